"""What outages read within one ISP (the queue's cross-tenant SQL is repository.py's)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


async def live_sold_vouchers(
    session: AsyncSession, tenant_id: int, router_id: int | None
) -> list[int]:
    """Vouchers with a phone that have a session open now, at the router (or anywhere)."""
    at_router = "AND r.id = :router" if router_id is not None else ""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            f"""SELECT DISTINCT v.id
                  FROM radacct a
                  JOIN voucher v ON v.id = a.voucher_id
                  JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
                 WHERE {{tenant:a}} AND a.acctstoptime IS NULL AND v.phone IS NOT NULL
                   {at_router}""",  # noqa: S608 - a fixed fragment, the value is bound
        ),
        {"router": router_id} if router_id is not None else {},
    )
    return [row[0] for row in result]


async def active_for_portal(
    session: AsyncSession, tenant_id: int, identity: str | None
) -> list[str]:
    """The messages of the ISP's outages going on now, ISP-wide or at the router whose identity
    (RouterOS's $(identity), as its hotspot page passes it) is `identity`."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT o.message FROM outage o
                 LEFT JOIN router r ON r.id = o.router_id
                WHERE {tenant:o} AND o.starts_at <= now()
                  AND (o.ends_at IS NULL OR o.ends_at > now())
                  AND (o.router_id IS NULL
                       OR (CAST(:identity AS text) IS NOT NULL
                           AND r.nas_identifier = CAST(:identity AS text)))
                ORDER BY o.id DESC LIMIT 3""",
        ),
        {"identity": identity},
    )
    return [row[0] for row in result]
