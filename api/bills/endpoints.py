"""HTTP routes for a subscriber's money: their payments (renewals) and an M-Pesa prompt for
their bill. Apart from api/subscribers because they reach the payments package, which itself
renews subscribers (api/subscribers/billing.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.bills import service as bills
from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.subscribers.schemas import BillPushIn, BillPushOut, SubscriberPaymentOut
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"])

Reader = Annotated[Principal, Depends(require(P.SUBSCRIBERS_READ))]
Writer = Annotated[Principal, Depends(require(P.SUBSCRIBERS_WRITE))]


@router.get("/{subscriber_id}/payments", response_model=list[SubscriberPaymentOut])
async def list_subscriber_payments(
    subscriber_id: IdPath, principal: Reader, session: SessionDep
) -> list[SubscriberPaymentOut]:
    """Payments credited to the subscriber, newest first: amount, months renewed, the due date
    and balance before and after, the M-Pesa receipt."""
    rows = await bills.payments(session, principal, subscriber_id)
    return [SubscriberPaymentOut.model_validate(r) for r in rows]


@router.post("/{subscriber_id}/bill", status_code=202, response_model=BillPushOut)
async def push_bill(
    subscriber_id: IdPath, body: BillPushIn, principal: Writer, session: SessionDep,
    meta: ClientMeta,
) -> BillPushOut:  # fmt: skip
    """An M-Pesa prompt (STK push) for the subscriber's bill, to their phone or `phone`: the
    plan's price less their balance, or `amount`. Follow it at GET
    /api/v1/portal/purchases/{purchase_id} on the ISP's address; paid, it renews them."""
    public_id = await bills.staff_push(session, principal, subscriber_id, body.phone,
                                       body.amount, meta)  # fmt: skip
    return BillPushOut(purchase_id=public_id)
