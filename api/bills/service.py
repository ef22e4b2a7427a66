"""Asking a subscriber's phone for their bill (STK push), for staff and the self-care page: the
amount due is the plan's price less the balance already paid (a whole month), unless another
amount is asked for. The push's success renews them (api/payments/settle.py, billing.renew)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.db import unit_of_work
from api.errors import BadRequest, NotFound
from api.payments import stk
from api.subscribers import billing, repository
from api.tenancy import Principal, tenant_sql


async def amount_due(session: AsyncSession, tenant_id: int, subscriber_id: int) -> dict[str, Any]:
    """What a month costs the subscriber now, with their phone (None: no subscriber)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT s.id, s.phone, s.balance, s.due_at, p.price, p.name AS plan
                 FROM subscriber s JOIN subscriber_plan p ON p.id = s.plan_id
                WHERE {tenant:s} AND s.id = :id""",
        ),
        {"id": subscriber_id},
    )
    row = result.mappings().first()
    if row is None:
        raise NotFound("Subscriber not found")
    due = max(row["price"] - row["balance"], 1) if row["price"] > 0 else 0
    return dict(row) | {"due": due}


async def push(tenant_id: int, subscriber_id: int, phone: str | None, amount: int | None) -> str:
    async with unit_of_work() as session:
        bill = await amount_due(session, tenant_id, subscriber_id)
    number = phone or bill["phone"]
    if not number:
        raise BadRequest("This subscriber has no phone number: give one to send the prompt to")
    wanted = amount if amount is not None else bill["due"]
    if wanted < 1:
        raise BadRequest("This plan costs nothing: there is no bill to pay")
    return await stk.start_bill(tenant_id, subscriber_id, number, wanted)


async def staff_push(
    session: AsyncSession, principal: Principal, subscriber_id: int, phone: str | None,
    amount: int | None, meta: audit.Meta = None,
) -> str:  # fmt: skip
    """Staff sending the bill to a subscriber's phone (one they may see), audited."""
    if await repository.get(session, principal, subscriber_id) is None:
        raise NotFound("Subscriber not found")
    public_id = await push(principal.tenant_id, subscriber_id, phone, amount)
    await audit.record(session, principal, "subscriber.bill_push", "subscriber", subscriber_id,
                       {"purchase": public_id, "amount": amount}, meta)  # fmt: skip
    return public_id


async def payments(
    session: AsyncSession, principal: Principal, subscriber_id: int
) -> list[dict[str, Any]]:
    if await repository.get(session, principal, subscriber_id) is None:
        raise NotFound("Subscriber not found")
    return await billing.history(session, principal.tenant_id, subscriber_id)
