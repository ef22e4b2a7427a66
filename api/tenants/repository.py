"""SQL for tenants. The tenant table is the root of scoping, so these are not tenant-scoped:
an ISP is found here by its slug (a Host, a login) before any tenant is known (listed in
tests/test_layout.py's CROSS_TENANT)."""

from __future__ import annotations

from sqlalchemy import RowMapping, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, constraint_name
from api.models import Tenant


async def get_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.slug == slug))


async def active_tenant(session: AsyncSession, slug: str) -> RowMapping | None:
    """The id, slug and name of the active ISP at this slug (a purchase on its portal)."""
    result = await session.execute(
        text("SELECT id, slug, name FROM tenant WHERE slug = :slug AND active"), {"slug": slug}
    )
    return result.mappings().first()


async def portal_isp(session: AsyncSession, slug: str) -> RowMapping | None:
    """The active ISP whose portal is at this slug, with its branding (api.hotspot.schemas.Isp)."""
    result = await session.execute(
        text("""
            SELECT t.id, t.slug, COALESCE(s.display_name, t.name) AS name,
                   COALESCE(s.primary_color, '#0d6efd') AS color,
                   COALESCE(s.language, 'en') AS language, s.logo IS NOT NULL AS has_logo,
                   s.support_phone
              FROM tenant t LEFT JOIN portal_settings s ON s.tenant_id = t.id
             WHERE t.slug = :slug AND t.active"""),
        {"slug": slug},
    )
    return result.mappings().first()


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
