"""Settling a purchase: the answer to an STK push becomes a payment and its grant, once.

Settlement (from a callback, a C2B confirmation or STK Query) locks the purchase row, and the
payment, the grant and the status change are one transaction: a payment grants exactly once
however many times, and through however many channels, it is reported. The caller's unit of
work holds that transaction; nothing here commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import config
from api.messaging import consent
from api.payments import alerts, grants, repository, wire
from api.promos import service as promos
from api.subscribers import billing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    verdict: str  # ok | duplicate | mismatch
    reason: str | None = None
    payment_id: int | None = None


async def settle_success(
    session: AsyncSession,
    req: RowMapping,
    *,
    receipt: str | None,
    amount: Decimal | None,
    phone: str | None,
    paid_at: datetime | None,
    desc: str = "The service request is processed successfully.",
) -> Outcome:
    """A verified success for a locked purchase. `receipt` is None when only STK Query vouched
    for it (the query carries none); a later callback attaches it."""
    wrong = _not_what_was_asked(req, amount, phone)
    if wrong is not None:
        return Outcome("mismatch", wrong)
    if req["status"] == "paid":
        return await _already_paid(session, req, receipt)
    existing = await _payment_with_receipt(session, req["tenant_id"], receipt)
    if existing is not None:
        foreign = _foreign_receipt(req, existing)
        if foreign is not None:
            # Marking the purchase paid here would show "paid" with no payment of its own.
            return Outcome("mismatch", foreign)
    await _mark_paid(session, req, receipt, desc)
    if req["promo_code_id"] is not None:  # once: a paid purchase returned above
        await promos.redeem(session, req["tenant_id"], req["promo_code_id"])
    if req["offers_opt_in"]:  # "Send me offers" ticked; the PIN shows the phone is the payer's
        await consent.opt_in(
            session, req["tenant_id"], "+" + req["phone"], "purchase", str(req["public_id"]),
            req["language"],
        )  # fmt: skip
    if existing is not None and existing["status"] == "granted":
        # The C2B echo of this very payment was granted first (a till payment claimed on the
        # portal): the purchase is paid by it; the lock above makes the link unique.
        await repository.bind_payment(session, req["tenant_id"], existing["id"], req["id"])
        return Outcome("duplicate", "granted already through C2B", existing["id"])
    payment_id = await _payment_row(session, req, existing, receipt, paid_at)
    await _grant(session, req, payment_id, receipt)
    return Outcome("ok", None, payment_id)


def _not_what_was_asked(req: RowMapping, amount: Decimal | None, phone: str | None) -> str | None:
    if amount is not None and amount != Decimal(req["amount"]):
        return f"amount {amount} but the push asked for {req['amount']}"
    if phone is not None and phone != req["phone"]:
        return "paid from another phone than the push went to"
    return None


async def _already_paid(session: AsyncSession, req: RowMapping, receipt: str | None) -> Outcome:
    payment_id = await repository.payment_of_request(session, req["tenant_id"], req["id"])
    if receipt is not None:
        await _attach_receipt(session, req, payment_id, receipt)
    return Outcome("duplicate", "already paid; granted once", payment_id)


async def _payment_with_receipt(
    session: AsyncSession, tenant_id: int, receipt: str | None
) -> RowMapping | None:
    """The payment already recorded under this M-Pesa receipt, locked (None for no receipt)."""
    if receipt is None:
        return None
    return await repository.lock_payment(session, tenant_id, receipt)


def _foreign_receipt(req: RowMapping, payment: RowMapping) -> str | None:
    """Why a receipt already on record cannot pay this purchase, or None when that record is
    this push's own C2B echo: not bound to a push, the same amount, and naming this purchase's
    reference (a till echo names no account). A receipt pays for one thing, once."""
    receipt = payment["receipt"]
    if payment["stk_request_id"] is not None:
        return f"receipt {receipt} already paid another purchase; a receipt pays once"
    account = (payment["account_reference"] or "").strip().upper()
    echo = account == req["reference"] or (not account and req["account_type"] == "till")
    if not echo:
        named = f"account {account}" if account else "no account"
        return f"receipt {receipt} is a C2B payment to {named}, not this purchase's"
    if Decimal(payment["amount"]) != Decimal(req["amount"]):
        return f"receipt {receipt} paid {payment['amount']}, not this purchase's {req['amount']}"
    return None


async def _mark_paid(
    session: AsyncSession, req: RowMapping, receipt: str | None, desc: str
) -> None:
    """Paid on a callback's word: one STK Query later double-checks it (a contradiction is
    recorded for the ISP to look at, and never revokes). Paid on the query's word: done."""
    confirm = config.get_settings().stk_query_after if receipt is not None else None
    await repository.mark_paid(session, req["tenant_id"], req["id"], receipt, desc, confirm)


async def _payment_row(
    session: AsyncSession,
    req: RowMapping,
    existing: RowMapping | None,
    receipt: str | None,
    paid_at: datetime | None,
) -> int:
    """The purchase's payment: its own C2B echo (recorded, not yet granted) bound to it, or a
    new STK payment."""
    if existing is not None:
        await repository.grant_bound_payment(session, req["tenant_id"], existing["id"], req["id"])
        return int(existing["id"])
    return await repository.insert_stk_payment(session, req, receipt, paid_at)


async def _grant(
    session: AsyncSession, req: RowMapping, payment_id: int, receipt: str | None
) -> None:
    tenant_id = req["tenant_id"]
    if req["plan_id"] is None:  # a subscriber's bill: renews them, once (payment_id is unique)
        renewed = None
        if req["subscriber_id"] is not None:
            renewed = await billing.renew(session, tenant_id, req["subscriber_id"],
                                          payment_id=payment_id, amount=req["amount"],
                                          receipt=receipt)  # fmt: skip
        if renewed is None:  # removed since the prompt: the money waits for staff
            await repository.hold(session, tenant_id, payment_id,
                                  "the subscriber this bill was for was removed")  # fmt: skip
        return
    plan = await grants.plan_for(session, tenant_id, req["plan_id"])
    assert plan is not None  # noqa: S101 - plan_id is a RESTRICT foreign key
    target = None
    if req["voucher_id"] is not None:
        target = await grants.live_voucher(session, tenant_id, voucher_id=req["voucher_id"])
    await grants.grant(
        session,
        payment_id=payment_id,
        amount=Decimal(req["amount"]),
        plan=plan,
        extend=target,
        phone=req["phone"],
    )


async def _attach_receipt(
    session: AsyncSession, req: RowMapping, payment_id: int | None, receipt: str
) -> None:
    """A purchase granted on STK Query's word learns its receipt from the late callback."""
    if payment_id is None:
        return
    attached = await repository.attach_receipt(session, req["tenant_id"], payment_id, receipt)
    if attached is None:  # it has its receipt, or this one belongs to another payment
        return
    await repository.request_receipt(session, req["tenant_id"], req["id"], receipt)


async def settle_failure(session: AsyncSession, req: RowMapping, code: str, desc: str) -> Outcome:
    """A failure never overrides a success (money moved; a failure after it is noise)."""
    if req["status"] == "paid":
        return Outcome("duplicate", f"failure {code} after success ignored; never revokes")
    if req["status"] == "failed" and req["result_code"] == code:
        return Outcome("duplicate", "failure already recorded")
    await repository.mark_failed(session, req["tenant_id"], req["id"], code, desc)
    if code in wire.MISCONFIGURED:
        log.error("tenant %s: M-Pesa account misconfigured (%s %s)", req["tenant_id"], code, desc)
    if alerts.is_the_phones(code):  # the ISP's staff hear of a phone failing again and again
        await alerts.failed_payment(session, req["tenant_id"], req["phone"], desc)
    return Outcome("ok")
