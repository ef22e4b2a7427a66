"""Finding ISPs (tenants) by slug. Creating one with its first owner is the platform's business
(api.platform.service.create_isp)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.models import Tenant
from api.tenants import repository


async def get_tenant(session: AsyncSession, slug: str) -> Tenant:
    tenant = await repository.get_by_slug(session, slug)
    if tenant is None:
        raise NotFound(f"No tenant with slug {slug!r}")
    return tenant
