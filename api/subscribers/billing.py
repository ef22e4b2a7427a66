"""A subscriber's money: a payment credits the balance, and every full plan price in it renews one
month from the later of now and the due date; the rest stays as balance. Written in the
payment's own transaction, with the subscriber row locked; subscriber_payment.payment_id is
unique, so a payment renews once however often (or concurrently) its confirmation arrives.

A renewal that brings an expired subscriber back disconnects their live sessions (sent once
this commits): the router logs them in again and radius_authorize() answers with the normal
pool and rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.sessions import control
from api.tenancy import tenant_sql


@dataclass(frozen=True)
class Renewal:
    subscriber_id: int
    months: int
    balance: int
    due_before: datetime
    due_after: datetime
    reconnected: int  # Disconnects planned for live expired sessions


async def by_username(session: AsyncSession, tenant_id: int, username: str) -> RowMapping | None:
    """The ISP's subscriber with this username, whatever its case (the paybill account)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "SELECT id, username, status, due_at, balance, plan_id, phone FROM subscriber"
            " WHERE {tenant} AND lower(username) = lower(:u)",
        ),
        {"u": username},
    )
    return result.mappings().first()


async def _locked(session: AsyncSession, tenant_id: int, subscriber_id: int) -> RowMapping | None:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT s.id, s.username, s.due_at, s.balance, p.price, t.subscriber_grace_days,
                   now() AS now,
                   s.due_at + make_interval(days => t.subscriber_grace_days) <= now() AS expired
              FROM subscriber s
              JOIN subscriber_plan p ON p.id = s.plan_id
              JOIN tenant t ON t.id = s.tenant_id
             WHERE {tenant:s} AND s.id = :id
               FOR UPDATE OF s""",
        ),
        {"id": subscriber_id},
    )
    return result.mappings().first()


def split(balance: int, price: int) -> tuple[int, int]:
    """(months, balance left) for what is paid up: one month per full price."""
    if price <= 0:
        return 0, balance
    return balance // price, balance % price


async def renew(
    session: AsyncSession, tenant_id: int, subscriber_id: int, *, payment_id: int,
    amount: Decimal | int, receipt: str | None,
) -> Renewal | None:  # fmt: skip
    """Credits one payment (None if the subscriber is gone). The caller's transaction holds
    the payment row; nothing here commits."""
    sub = await _locked(session, tenant_id, subscriber_id)
    if sub is None:
        return None
    paid = int(Decimal(amount))  # M-Pesa moves whole shillings
    months, left = split(sub["balance"] + paid, sub["price"])
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            UPDATE subscriber
               SET balance = :left, updated_at = now(),
                   due_at = CASE WHEN :months > 0
                                 THEN GREATEST(due_at, now()) + make_interval(months => :months)
                                 ELSE due_at END
             WHERE {tenant} AND id = :id
            RETURNING due_at,
                      due_at + make_interval(days => :grace) > now() AS paid_up""",
        ),
        {"id": subscriber_id, "left": left, "months": months,
         "grace": sub["subscriber_grace_days"]},
    )  # fmt: skip
    after = result.mappings().one()
    await _history(session, tenant_id, sub, payment_id, paid, months, left, after["due_at"],
                   receipt)  # fmt: skip
    reconnected: list[int] = []
    if sub["expired"] and after["paid_up"]:
        reconnected = await control.disconnect_subscriber(
            session, tenant_id, subscriber_id, reason="renewed", actor="payment"
        )
    await audit.changed(
        session, "system", "subscriber.renew", "subscriber", subscriber_id,
        {"due_at": sub["due_at"], "balance": sub["balance"]},
        {"due_at": after["due_at"], "balance": left},
        details={"payment_id": payment_id, "receipt": receipt, "amount": paid, "months": months,
                 "sessions_disconnected": len(reconnected)},
        tenant_id=tenant_id,
    )  # fmt: skip
    return Renewal(subscriber_id, months, left, sub["due_at"], after["due_at"], len(reconnected))


async def _history(
    session: AsyncSession, tenant_id: int, sub: RowMapping, payment_id: int, paid: int,
    months: int, left: int, due_after: datetime, receipt: str | None,
) -> None:  # fmt: skip
    params: dict[str, Any] = {
        "sub": sub["id"], "payment": payment_id, "receipt": receipt, "amount": paid,
        "months": months, "before": sub["balance"], "after": left, "due_before": sub["due_at"],
        "due_after": due_after,
    }  # fmt: skip
    await session.execute(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO subscriber_payment (tenant_id, subscriber_id, payment_id, receipt, amount,
                                            months, balance_before, balance_after, due_before,
                                            due_after)
            VALUES (:tenant_id, :sub, :payment, :receipt, :amount, :months, :before, :after,
                    :due_before, :due_after)""",
        ),
        params,
    )


async def history(
    session: AsyncSession, tenant_id: int, subscriber_id: int, limit: int = 20
) -> list[dict[str, Any]]:
    """The subscriber's payments, newest first (staff and the self-care page show them)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT sp.id, sp.receipt, sp.amount, sp.months, sp.balance_before, sp.balance_after,
                   sp.due_before, sp.due_after, sp.created_at, p.source, p.phone
              FROM subscriber_payment sp JOIN payment p ON p.id = sp.payment_id
             WHERE {tenant:sp} AND sp.subscriber_id = :s
             ORDER BY sp.id DESC LIMIT :limit""",
        ),
        {"s": subscriber_id, "limit": limit},
    )
    return [dict(r) for r in result.mappings()]
