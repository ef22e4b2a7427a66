"""What staff read about money: payments, purchases and the raw callback log (one ISP's).
The staff side's share of the payments repository (repository.py holds the money path's)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


async def _rows(
    session: AsyncSession, sql: str, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    result = await session.execute(tenant_sql(tenant_id, sql), {"limit": limit, "before": before})
    return [dict(row) for row in result.mappings()]


async def payments(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    return await _rows(
        session,
        """SELECT p.id, p.source, p.receipt, p.amount, p.currency, p.phone,
                  p.account_reference, p.shortcode, p.paid_at, p.status, p.note, p.created_at,
                  r.public_id AS purchase_id, g.kind AS grant_kind, g.plan_id,
                  v.code AS voucher_code
             FROM payment p
             LEFT JOIN stk_request r ON r.id = p.stk_request_id
             LEFT JOIN payment_grant g ON g.payment_id = p.id
             LEFT JOIN voucher v ON v.id = g.voucher_id
            WHERE {tenant:p} AND (CAST(:before AS bigint) IS NULL OR p.id < :before)
            ORDER BY p.id DESC LIMIT :limit""",
        tenant_id,
        limit,
        before,
    )


async def purchases(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[dict[str, Any]]:
    return await _rows(
        session,
        """SELECT id, public_id, plan_id, voucher_id, phone, amount, account_type, reference,
                  checkout_request_id, status, result_code, result_desc, receipt,
                  query_result_code, query_attempts, created_at, callback_at, updated_at
             FROM stk_request
            WHERE {tenant} AND (CAST(:before AS bigint) IS NULL OR id < :before)
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
            WHERE {tenant} AND (CAST(:before AS bigint) IS NULL OR id < :before)
            ORDER BY id DESC LIMIT :limit""",
        tenant_id,
        limit,
        before,
    )
