"""Creating ISPs (tenants) with their first owner; used by the CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.models import Tenant
from api.staff import service as staff_service
from api.tenancy import Principal
from api.tenants import repository
from api.tenants.schemas import TenantCreate


async def create_tenant(session: AsyncSession, data: TenantCreate) -> Tenant:
    tenant = await repository.insert(session, slug=data.slug, name=data.name)
    actor = Principal.cli(tenant.id)
    await audit.record(session, actor, "tenant.create", "tenant", tenant.id, {"slug": tenant.slug})
    await staff_service.create_staff(
        session, actor, email=str(data.admin_email), password=data.admin_password, role="owner"
    )
    return tenant


async def get_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await repository.get_by_slug(session, slug)
    if tenant is None:
        raise NotFound(f"No tenant with slug {slug!r}")
    return tenant
