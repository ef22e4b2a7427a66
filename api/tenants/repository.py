"""SQL for tenants. The tenant table is the root of scoping, so these are not tenant-scoped."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, constraint_name
from api.models import Tenant


async def get_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def insert(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    tenant = Tenant(slug=slug, name=name)
    session.add(tenant)
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_name(exc) == "uq_tenant_slug":
            raise Conflict(f"A tenant with slug {slug!r} already exists") from exc
        raise
    return tenant
