"""The access a payment buys, written in the payment's own transaction: a new voucher, or more
time and data on the customer's live voucher when it is a repurchase. The unique payment_id of
payment_grant makes a second grant for one payment impossible, whatever the caller does."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.notifications.decisions import decide
from api.plans.units import rate_limit_string
from api.sessions import control
from api.tenancy import tenant_sql
from api.vouchers.schemas import ALPHABET

CODE_LENGTH = 8  # 31^8 codes: a sold voucher is a credential worth money
_ATTEMPTS = 10


@dataclass(frozen=True)
class Grant:
    voucher_id: int
    code: str
    kind: str  # "new" or "extend"


async def plan_for(session: AsyncSession, tenant_id: int, plan_id: int) -> RowMapping | None:
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT * FROM plan WHERE id = :id AND {tenant}"),
        {"id": plan_id},
    )
    return result.mappings().first()


async def plans_priced(session: AsyncSession, tenant_id: int, amount: Decimal) -> list[RowMapping]:
    """Active plans that cost exactly this much (what a C2B payment of `amount` can buy)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT * FROM plan WHERE {tenant} AND active AND price = :amount ORDER BY id""",
        ),
        {"amount": amount},
    )
    return list(result.mappings())


async def live_voucher(
    session: AsyncSession, tenant_id: int, *, voucher_id: int | None = None, code: str | None = None
) -> RowMapping | None:
    """The voucher, locked, if it can still be used (unused or active): only those are extended.
    The lock orders this grant with logins starting its clock (radius_post_auth)."""
    where = "v.id = :key" if voucher_id is not None else "v.code = :key"
    result = await session.execute(
        tenant_sql(
            tenant_id,
            f"""
            SELECT v.id, v.code, v.plan_id, (voucher_state(v, t.unused_voucher_days)).state
              FROM voucher v JOIN tenant t ON t.id = v.tenant_id
             WHERE {where} AND {{tenant:v}}
               FOR UPDATE OF v""",  # noqa: S608 (fixed text, no input)
        ),
        {"key": voucher_id if voucher_id is not None else code},
    )
    row = result.mappings().first()
    return row if row is not None and row["state"] in ("unused", "active") else None


async def _new_voucher(
    session: AsyncSession, plan: RowMapping, phone: str | None
) -> tuple[int, str]:
    for _ in range(_ATTEMPTS):
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        result = await session.execute(
            tenant_sql(
                plan["tenant_id"],
                """
                INSERT INTO voucher (tenant_id, plan_id, code, duration_seconds,
                                     time_quota_seconds, data_quota_bytes, rate_limit,
                                     device_limit, mac_binding, source, phone)
                VALUES (:tenant_id, :plan_id, :code, :duration, :time_quota, :data_quota,
                        :rate, :devices, :binding, 'payment', :phone)
                ON CONFLICT (tenant_id, code) DO NOTHING
                RETURNING id""",
            ),
            {
                "plan_id": plan["id"],
                "code": code,
                "duration": plan["duration_seconds"],
                "time_quota": plan["time_quota_seconds"],
                "data_quota": plan["data_quota_bytes"],
                "rate": rate_limit_string(plan["upload_kbps"], plan["download_kbps"]),
                "devices": plan["device_limit"],
                "binding": plan["mac_binding"],
                "phone": phone,
            },
        )
        voucher_id = result.scalar()
        if voucher_id is not None:
            return voucher_id, code
    raise RuntimeError("no free voucher code after several draws")  # 31^8 codes: not luck


async def _extend(session: AsyncSession, voucher_id: int, plan: RowMapping) -> None:
    """More of the plan on a live voucher: its validity and quotas grow by the plan's, its speed
    and device limit become the plan's (at least what it had). A quota stays unlimited if
    either side is."""
    await session.execute(
        tenant_sql(
            plan["tenant_id"],
            """
            UPDATE voucher SET
                duration_seconds = duration_seconds + :duration,
                expires_at = expires_at + make_interval(secs => :duration),
                time_quota_seconds = time_quota_seconds + CAST(:time_quota AS bigint),
                data_quota_bytes = data_quota_bytes + CAST(:data_quota AS bigint),
                rate_limit = :rate,
                device_limit = GREATEST(device_limit, :devices)
             WHERE {tenant} AND id = :id""",
        ),
        {
            "id": voucher_id,
            "duration": plan["duration_seconds"],
            "time_quota": plan["time_quota_seconds"],
            "data_quota": plan["data_quota_bytes"],
            "rate": rate_limit_string(plan["upload_kbps"], plan["download_kbps"]),
            "devices": plan["device_limit"],
        },
    )


async def grant(
    session: AsyncSession,
    *,
    payment_id: int,
    amount: Decimal | int,
    plan: RowMapping,
    extend: RowMapping | None = None,
    phone: str | None = None,
) -> Grant:
    """Writes the access for one payment. `extend` is a row from live_voucher() (locked)."""
    if extend is not None:
        await _extend(session, extend["id"], plan)
        voucher_id, code, kind = extend["id"], extend["code"], "extend"
        # Devices online now get the new Session-Timeout and rate by CoA (sent after commit).
        await control.extend_sessions(session, plan["tenant_id"], voucher_id, actor="payment")
    else:
        voucher_id, code = await _new_voucher(session, plan, phone)
        kind = "new"
    params: dict[str, Any] = {
        "payment_id": payment_id,
        "voucher_id": voucher_id,
        "plan_id": plan["id"],
        "kind": kind,
        "amount": amount,
        "duration": plan["duration_seconds"],
        "time_quota": plan["time_quota_seconds"],
        "data_quota": plan["data_quota_bytes"],
    }
    await session.execute(
        tenant_sql(
            plan["tenant_id"],
            """
            INSERT INTO payment_grant (tenant_id, payment_id, voucher_id, plan_id, kind, amount,
                                       duration_seconds, time_quota_seconds, data_quota_bytes)
            VALUES (:tenant_id, :payment_id, :voucher_id, :plan_id, :kind, :amount, :duration,
                    :time_quota, :data_quota)""",
        ),
        params,
    )
    # "Payment received" for the buyer (with the code and how to log in), decided with the grant.
    await decide(
        session, plan["tenant_id"], "payment", f"payment:{payment_id}", voucher_id,
        {"amount": f"{Decimal(amount):.0f}", "kind": kind},
    )  # fmt: skip
    return Grant(voucher_id=voucher_id, code=code, kind=kind)
