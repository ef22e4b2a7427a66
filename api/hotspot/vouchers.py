"""What the portal may show about a voucher to whoever holds its code: its state, what is left,
its package and how many devices use it now. Unknown codes count against the phone and its
address (voucher guessing), like wrong M-Pesa codes on claims."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from api import config, limits
from api.db import unit_of_work
from api.errors import NotFound


async def public_status(tenant_id: int, code: str, caller: limits.Caller) -> dict[str, Any]:
    limit = config.get_settings().claim_max_failures * 2
    message = "Too many wrong voucher codes; wait and try again"
    await limits.attempt("voucher", tenant_id, caller, limit, message)
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                SELECT v.code, v.device_limit, v.rate_limit, p.name AS package, s.*,
                       (SELECT count(DISTINCT a.callingstationid) FROM radacct a
                         WHERE a.voucher_id = v.id AND a.acctstoptime IS NULL
                           AND COALESCE(a.acctupdatetime, a.acctstarttime)
                               > now() - session_grace(t.acct_interim_interval)) AS devices_online
                  FROM voucher v
                  JOIN tenant t ON t.id = v.tenant_id
                  JOIN plan p ON p.id = v.plan_id
                 CROSS JOIN LATERAL voucher_state(v, t.unused_voucher_days) s
                 WHERE v.tenant_id = :t AND v.code = :code"""),
            {"t": tenant_id, "code": code},
        )
        row = result.mappings().first()
    if row is None:  # a guess: the attempt stays counted
        raise NotFound("No such voucher. Check the code and try again.")
    await limits.succeeded("voucher", tenant_id, caller)
    out = {k: row[k] for k in ("code", "package", "state", "reason", "seconds_left", "bytes_left",
                               "usable_until", "device_limit", "devices_online")}  # fmt: skip
    out["reason"] = out["reason"] or None
    return out


async def logo(tenant_id: int) -> tuple[bytes, str] | None:
    async with unit_of_work() as session:
        result = await session.execute(
            text("SELECT logo, logo_type FROM portal_settings WHERE tenant_id = :t"),
            {"t": tenant_id},
        )
        row = result.first()
    return (bytes(row[0]), row[1]) if row is not None and row[0] is not None else None
