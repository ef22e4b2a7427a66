"""The expiry warning: every ISP's sold vouchers ending within its expiry_warning_minutes,
decided once per voucher and end (an extension moves the end: warned again before the new one).
Cross-tenant on purpose (the worker's sweep, listed in tests/test_layout.py's CROSS_TENANT)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from api.db import unit_of_work

# The sweep reads the ix_voucher_expires_at_sold index up to the largest setting (a day).
_DECIDE = text("""
    INSERT INTO notification (tenant_id, event, key, voucher_id, details)
    SELECT v.tenant_id, 'expiry',
           format('expiry:%s:%s', v.id, extract(epoch FROM v.expires_at)::bigint), v.id,
           jsonb_build_object('minutes', ceil(extract(epoch FROM v.expires_at - now()) / 60))
      FROM voucher v JOIN tenant t ON t.id = v.tenant_id
     WHERE v.phone IS NOT NULL
       AND v.expires_at > now() AND v.expires_at <= now() + interval '1440 minutes'
       AND v.expires_at <= now() + make_interval(mins => t.expiry_warning_minutes)
       AND v.status <> 'revoked'
    ON CONFLICT (key) DO NOTHING""")


async def decide_expiry_warnings(ctx: dict[str, Any] | None = None) -> int:
    async with unit_of_work() as session:
        result = await session.execute(_DECIDE)
    return result.rowcount or 0  # type: ignore[attr-defined]


# A router that reported within the last day but not for twice its ISP's interim interval and a
# minute: silent (the routers' health says the same). One alert per silence: the key names the
# router and its last packet, so a router that comes back and goes silent again alerts again.
_SILENT = text("""
    INSERT INTO notification (tenant_id, event, key, details)
    SELECT r.tenant_id, 'staff.router_silent',
           format('staff.router_silent:%s:%s', r.id, extract(epoch FROM last.at)::bigint),
           jsonb_build_object('router', r.name,
                              'since', to_char(last.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'))
      FROM router r JOIN tenant t ON t.id = r.tenant_id
     CROSS JOIN LATERAL (
           SELECT GREATEST(a.acctstarttime, a.acctupdatetime) AS at
             FROM radacct a
            WHERE a.tenant_id = r.tenant_id AND a.nasipaddress = r.ip_address
            ORDER BY GREATEST(a.acctstarttime, a.acctupdatetime) DESC NULLS LAST
            LIMIT 1) last
     WHERE r.enabled AND last.at > now() - interval '1 day'
       AND last.at < now() - session_grace(t.acct_interim_interval)
    ON CONFLICT (key) DO NOTHING""")


async def decide_silent_routers(ctx: dict[str, Any] | None = None) -> int:
    async with unit_of_work() as session:
        result = await session.execute(_SILENT)
    return result.rowcount or 0  # type: ignore[attr-defined]
