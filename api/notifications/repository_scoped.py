"""What outages read within one ISP (the queue's cross-tenant SQL is repository.py's)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


async def live_sold_vouchers(
    session: AsyncSession, tenant_id: int, router_id: int | None, zone_id: int | None = None
) -> list[int]:
    """Vouchers with a phone that have a session open now: at the router, at a router of the
    zone or of a zone below it, or (neither) anywhere."""
    where, params = "", {}
    if router_id is not None:
        where, params = "AND r.id = :router", {"router": router_id}
    elif zone_id is not None:
        where = (
            "AND r.zone_id IN (SELECT z.id FROM zone z"
            " WHERE {tenant:z} AND z.path @> ARRAY[CAST(:zone AS integer)])"
        )
        params = {"zone": zone_id}
    result = await session.execute(
        tenant_sql(
            tenant_id,
            f"""SELECT DISTINCT v.id
                  FROM radacct a
                  JOIN voucher v ON v.id = a.voucher_id
                  JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
                 WHERE {{tenant:a}} AND a.acctstoptime IS NULL AND v.phone IS NOT NULL
                   {where}""",  # noqa: S608 - fixed fragments, the values are bound
        ),
        params,
    )
    return [row[0] for row in result]


# An outage going on now shown to the phone behind the router `:identity` (none: ISP-wide ones
# only): the ISP's, the router's own, or its zone's or a zone's above it.
_AT_ROUTER = """
    (o.router_id IS NULL AND o.zone_id IS NULL)
    OR (CAST(:identity AS text) IS NOT NULL AND EXISTS (
        SELECT 1 FROM router hr
          LEFT JOIN zone hz ON hz.tenant_id = hr.tenant_id AND hz.id = hr.zone_id
         WHERE {tenant:hr} AND hr.nas_identifier = CAST(:identity AS text)
           AND (hr.id = o.router_id OR hz.path @> ARRAY[o.zone_id])))"""


async def active_for_portal(
    session: AsyncSession, tenant_id: int, identity: str | None
) -> list[str]:
    """The messages of the ISP's outages going on now, ISP-wide, at the router whose identity
    (RouterOS's $(identity), as its hotspot page passes it) is `identity`, or at its zone."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            f"""SELECT o.message FROM outage o
                WHERE {{tenant:o}} AND o.starts_at <= now()
                  AND (o.ends_at IS NULL OR o.ends_at > now())
                  AND ({_AT_ROUTER})
                ORDER BY o.id DESC LIMIT 3""",  # noqa: S608 - a fixed fragment
        ),
        {"identity": identity},
    )
    return [row[0] for row in result]
