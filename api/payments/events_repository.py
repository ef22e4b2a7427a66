"""The SQL of every callback Daraja posts, as it arrived (payment_event), for events.py.

Across ISPs on purpose (listed in tests/test_layout.py's CROSS_TENANT): an event is stored
before its ISP is known, and a forged one (no ISP takes payments at its URL) has none; it is
then judged, again by the repair job, by its id, and the row says whose it is. Nothing here
commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


async def insert_event(session: AsyncSession, tenant_id: int | None, values: dict[str, Any]) -> int:
    """values: kind, source, peer, fwd, body, verdict, reason. `tenant_id` is None when no ISP
    takes payments at the URL (a forged call is stored too)."""
    event_id = await session.scalar(
        text("""
            INSERT INTO payment_event (tenant_id, kind, source_ip, peer_ip, forwarded_for,
                                       body, verdict, reason, processed_at)
            VALUES (:tenant, :kind, :source, :peer, :fwd, :body, :verdict, :reason,
                    CASE WHEN :verdict = 'received' THEN NULL ELSE now() END)
            RETURNING id"""),
        {"tenant": tenant_id, **values},
    )
    return int(event_id)  # type: ignore[arg-type]


async def lock_event(session: AsyncSession, event_id: int) -> RowMapping:
    result = await session.execute(
        text("SELECT * FROM payment_event WHERE id = :id FOR UPDATE"), {"id": event_id}
    )
    return result.mappings().one()


async def finish_event(
    session: AsyncSession, event_id: int, verdict: str, reason: str | None, found: dict[str, Any]
) -> None:
    """found: checkout, receipt, req, pay (None keeps what the event has)."""
    await session.execute(
        text("""
            UPDATE payment_event
               SET verdict = :verdict, reason = :reason, processed_at = now(),
                   checkout_request_id = COALESCE(:checkout, checkout_request_id),
                   receipt = COALESCE(:receipt, receipt),
                   stk_request_id = COALESCE(:req, stk_request_id),
                   payment_id = COALESCE(:pay, payment_id)
             WHERE id = :id"""),
        {"id": event_id, "verdict": verdict, "reason": reason, **found},
    )


async def unknown_events(session: AsyncSession, tenant_id: int, checkout_id: str) -> list[int]:
    ids = await session.scalars(
        tenant_sql(
            tenant_id,
            """SELECT id FROM payment_event
                WHERE verdict = 'unknown' AND checkout_request_id = :c
                  AND {tenant} ORDER BY id""",
        ),
        {"c": checkout_id},
    )
    return list(ids)
