"""What staff read about money: payments, purchases and the raw callback log (one ISP's).
The staff side's share of the payments repository (repository.py holds the money path's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql

# The first page is older than any id: one condition that is always an index bound, where
# "(:before IS NULL OR id < :before)" is none once PostgreSQL plans the statement generically
# (prepared, after five runs), and a page deep in the list would then walk from the top.
NEWEST = 2**63 - 1


async def _rows(
    session: AsyncSession, sql: str, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    older = NEWEST if before is None else before
    result = await session.execute(tenant_sql(tenant_id, sql), {"limit": limit, "before": older})
    return [dict(row) for row in result.mappings()]


async def payments(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None, *,
    waiting: bool = False, receipt: str | None = None, phone: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first, keyset pages. `waiting`: only money that bought nothing yet (unclaimed or
    held); `receipt`/`phone`: only that M-Pesa code, or that payer's number (2547...). Each
    filter is its own fixed condition (not "(:x IS NULL OR ...)", which a generic plan cannot
    use an index for), so each reads its index."""
    where = ["{tenant:p}", "p.id < CAST(:before AS bigint)"]
    if waiting:
        where.append("p.status IN ('unclaimed', 'held')")
    if receipt is not None:
        where.append("p.receipt = :receipt")
    if phone is not None:
        where.append("p.phone = :phone")
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT p.id, p.source, p.receipt, p.amount, p.currency, p.phone,
                      p.account_reference, p.shortcode, p.paid_at, p.status, p.note,
                      p.created_at, r.public_id AS purchase_id, g.kind AS grant_kind,
                      g.plan_id, v.code AS voucher_code
                 FROM payment p
                 LEFT JOIN stk_request r ON r.id = p.stk_request_id
                 LEFT JOIN payment_grant g ON g.payment_id = p.id
                 LEFT JOIN voucher v ON v.id = g.voucher_id
                WHERE """  # noqa: S608 - fixed fragments, the values are bound
            + " AND ".join(where)
            + " ORDER BY p.id DESC LIMIT :limit",
        ),
        {"limit": limit, "before": NEWEST if before is None else before,
         **({"receipt": receipt} if receipt is not None else {}),
         **({"phone": phone} if phone is not None else {})},
    )  # fmt: skip
    return [dict(row) for row in result.mappings()]


async def purchases(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    return await _rows(
        session,
        """SELECT id, public_id, plan_id, voucher_id, phone, amount, account_type, reference,
                  checkout_request_id, status, result_code, result_desc, receipt,
                  query_result_code, query_attempts, created_at, callback_at, updated_at
             FROM stk_request
            WHERE {tenant} AND id < CAST(:before AS bigint)
            ORDER BY id DESC LIMIT :limit""",
        tenant_id,
        limit,
        before,
    )


async def events(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    return await _rows(
        session,
        """SELECT id, kind, host(source_ip) AS source_ip, host(peer_ip) AS peer_ip,
                  forwarded_for, body, checkout_request_id, receipt, verdict, reason,
                  stk_request_id, payment_id, received_at, processed_at
             FROM payment_event
            WHERE {tenant} AND id < CAST(:before AS bigint)
            ORDER BY id DESC LIMIT :limit""",
        tenant_id,
        limit,
        before,
    )


# Days and months count in East Africa Time, where our ISPs sell (a per-ISP zone is a setting to
# come); PostgreSQL does the calendar.
TIME_ZONE = "Africa/Nairobi"


async def takings(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    """Money received today and this month; today's sales by package; purchases still waiting
    for the customer's PIN; payments that bought nothing yet (unclaimed or held); purchases
    called paid that STK Query then did not confirm (disputed)."""
    totals = await session.execute(
        tenant_sql(
            tenant_id,
            """WITH b AS (
                 SELECT date_trunc('day', now() AT TIME ZONE :tz) AT TIME ZONE :tz AS day,
                        date_trunc('month', now() AT TIME ZONE :tz) AT TIME ZONE :tz AS month)
               SELECT COALESCE(sum(p.amount) FILTER (WHERE p.paid_at >= b.day), 0) AS today,
                      count(*) FILTER (WHERE p.paid_at >= b.day) AS today_count,
                      COALESCE(sum(p.amount), 0) AS month
                 FROM payment p, b WHERE {tenant:p} AND p.paid_at >= b.month""",
        ),
        {"tz": TIME_ZONE},
    )
    by_plan = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT pl.name, count(*) AS sold, sum(p.amount) AS total
                 FROM payment p
                 JOIN payment_grant g ON g.payment_id = p.id
                 JOIN plan pl ON pl.id = g.plan_id
                WHERE {tenant:p}
                  AND p.paid_at >= date_trunc('day', now() AT TIME ZONE :tz) AT TIME ZONE :tz
                GROUP BY pl.name ORDER BY total DESC, pl.name""",
        ),
        {"tz": TIME_ZONE},
    )
    waiting = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT count(*) FILTER (WHERE r.status = 'pending') AS waiting,
                      (SELECT count(*) FROM payment p
                        WHERE {tenant:p} AND p.status IN ('unclaimed', 'held')) AS unresolved,
                      (SELECT count(*) FROM stk_request d
                        WHERE {tenant:d} AND d.status = 'paid' AND d.query_result_code <> '0'
                      ) AS disputed
                 FROM stk_request r
                WHERE {tenant:r} AND r.created_at > now() - interval '1 hour'""",
        )
    )
    return {
        **dict(totals.mappings().one()),
        "by_plan": [dict(row) for row in by_plan.mappings()],
        **dict(waiting.mappings().one()),
    }


async def disputed(session: AsyncSession, tenant_id: int, limit: int) -> list[dict[str, Any]]:
    """Purchases Daraja's callback called paid but its later STK Query did not (a result code
    other than 0): the voucher went out; whether the money came is for the ISP to check in its
    M-Pesa statement. Newest first."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT r.id, r.public_id, r.phone, r.amount, r.receipt, r.query_result_code,
                      r.created_at, v.code AS voucher_code
                 FROM stk_request r
                 LEFT JOIN payment p ON p.stk_request_id = r.id
                 LEFT JOIN payment_grant g ON g.payment_id = p.id
                 LEFT JOIN voucher v ON v.id = g.voucher_id
                WHERE {tenant:r} AND r.status = 'paid' AND r.query_result_code IS NOT NULL
                  AND r.query_result_code <> '0'
                ORDER BY r.id DESC LIMIT :limit""",
        ),
        {"limit": limit},
    )
    return [dict(row) for row in result.mappings()]
