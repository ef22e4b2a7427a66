"""C2B: payments a customer makes from the M-Pesa menu to the ISP's paybill or till.

Paybill payments name an account: our STK reference (the C2B echo of a push), a voucher code
(a top-up), a subscriber's username (whatever its case: their monthly bill, any amount, see
api/subscribers/billing.py) or a phone number (a new voucher for that phone); those grant at
once. Till payments
name nothing and show a masked phone, so the customer claims them on the portal with the M-Pesa
code from their SMS. Money that buys nothing we sell is kept as "held" for the ISP to resolve;
a confirmation is never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, config, limits, outbound
from api.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from api.models import PaymentSettings
from api.payments import daraja, grants, repository, wire
from api.payments.daraja import Client, DarajaError, TokenCache, base_url
from api.payments.service import account, callback_url
from api.payments.settle import Outcome, settle_success
from api.phones import normalize_phone
from api.security import get_redis
from api.subscribers import billing
from api.tenancy import Principal

INVALID_ACCOUNT = ("C2B00012", "Rejected: unknown account number")
INVALID_AMOUNT = ("C2B00013", "Rejected: no package costs this amount")
INVALID_SHORTCODE = ("C2B00015", "Rejected: not this business's number")
ACCEPTED = ("0", "Accepted")


@dataclass
class Target:
    kind: str  # stk | voucher | subscriber | phone | till | spent | unknown
    plan: RowMapping | None = None
    choices: int = 0  # active packages that cost the amount (till and paybill accounts)
    request: RowMapping | None = None
    voucher: RowMapping | None = None
    phone: str | None = None
    note: str | None = None
    subscriber: RowMapping | None = None


def shortcodes(row: PaymentSettings) -> set[str]:
    return {c for c in (row.shortcode, row.till_number, row.c2b_shortcode) if c}


async def _plan_by_amount(
    session: AsyncSession, tenant_id: int, amount: Decimal, prefer: int | None = None
) -> tuple[RowMapping | None, int, str | None]:
    """The package this amount buys, how many packages cost it, and why none was chosen."""
    plans = await grants.plans_priced(session, tenant_id, amount)
    for plan in plans:
        if plan["id"] == prefer:
            return plan, len(plans), None
    if len(plans) == 1:
        return plans[0], 1, None
    if not plans:
        return None, 0, f"no package costs {amount}"
    return None, len(plans), f"{len(plans)} packages cost {amount}; the customer must choose one"


async def _voucher(
    session: AsyncSession, tenant_id: int, payment: wire.C2BPayment, ref: str, *, lock: bool
) -> Target | None:
    """A top-up of the voucher named `ref`, if it exists. Only a voucher that can still be used
    is topped up; money for a spent one is held, to be claimed as a new voucher on the portal
    (a voucher made here would reach nobody: C2B shows no usable phone)."""
    found = await repository.voucher_by_code(session, tenant_id, ref)
    if found is None:
        return None
    live = found if found["state"] in ("unused", "active") else None
    if live is not None and lock:  # locked, and its state read again under the lock
        live = await grants.live_voucher(session, tenant_id, voucher_id=found["id"])
    if live is None:
        return Target("spent", note=f"voucher {ref} is {found['state']}; it cannot be topped up")
    plan, choices, note = await _plan_by_amount(
        session, tenant_id, payment.amount, found["plan_id"]
    )
    return Target("voucher", plan=plan, choices=choices, voucher=live, note=note)


async def resolve(
    session: AsyncSession, tenant_id: int, payment: wire.C2BPayment, *, lock: bool
) -> Target:
    """What a C2B payment pays for, from its account number and amount."""
    ref = payment.bill_ref.strip().upper()
    if not ref:
        plan, choices, note = await _plan_by_amount(session, tenant_id, payment.amount)
        return Target("till", plan=plan, choices=choices, note=note)
    if lock:
        request = await repository.lock_request(session, tenant_id, reference=ref)
    else:
        request = await repository.request_by_reference(session, tenant_id, ref)
    if request is not None:
        plan = None
        if request["plan_id"] is not None:  # None: a subscriber's bill
            plan = await grants.plan_for(session, tenant_id, request["plan_id"])
        if payment.amount != Decimal(request["amount"]):
            return Target("stk", request=request, note="amount differs from the push")
        return Target("stk", plan=plan, request=request)
    voucher = await _voucher(session, tenant_id, payment, ref, lock=lock)
    if voucher is not None:
        return voucher
    subscriber = await billing.by_username(session, tenant_id, payment.bill_ref.strip())
    if subscriber is not None:  # any amount: what is short of a month waits as balance
        return Target("subscriber", subscriber=subscriber)
    try:
        phone = normalize_phone(ref)
    except ValueError:
        return Target("unknown", note=f"account number {ref!r} is no voucher, phone or purchase")
    plan, choices, note = await _plan_by_amount(session, tenant_id, payment.amount)
    return Target("phone", plan=plan, choices=choices, phone=phone, note=note)


async def validate(
    session: AsyncSession, tenant_id: int, row: PaymentSettings, payment: wire.C2BPayment
) -> tuple[str, str]:
    """Daraja's validation question (answer within ~8 s): may this payment go through?
    An amount several packages cost goes through: the customer picks one when claiming."""
    if payment.shortcode not in shortcodes(row):
        return INVALID_SHORTCODE
    target = await resolve(session, tenant_id, payment, lock=False)
    if target.kind in ("unknown", "spent"):
        return INVALID_ACCOUNT
    if target.kind == "subscriber" or (
        target.request is not None and target.request["subscriber_id"] is not None
    ):
        return ACCEPTED
    if target.plan is None and target.choices == 0:
        return INVALID_AMOUNT
    return ACCEPTED


async def confirm(
    session: AsyncSession, tenant_id: int, row: PaymentSettings, payment: wire.C2BPayment
) -> Outcome:
    """Money has moved: record it once (by receipt) and grant what it bought, or hold it."""
    existing = await repository.payment_id(session, tenant_id, payment.receipt)
    if existing is not None:
        return Outcome("duplicate", "receipt already recorded", existing)
    if payment.shortcode not in shortcodes(row):
        note = f"paid to {payment.shortcode}, not one of this ISP's numbers"
        return await _record(session, tenant_id, row, payment, "held", note)
    target = await resolve(session, tenant_id, payment, lock=True)
    bill = target.request is not None and target.request["subscriber_id"] is not None
    if target.kind == "stk" and target.request is not None and (target.plan or bill):
        paid_by = target.request["receipt"]
        if target.request["status"] == "paid" and paid_by not in (None, payment.receipt):
            # A second payment naming a purchase already paid: its own money, never dropped.
            target.note = f"purchase {target.request['reference']} was already paid ({paid_by})"
        else:
            outcome = await settle_success(
                session,
                target.request,
                receipt=payment.receipt,
                amount=payment.amount,
                phone=None,
                paid_at=payment.paid_at,
            )
            if outcome.verdict != "mismatch":
                return outcome
            target.note = outcome.reason
    if target.kind == "subscriber" and target.subscriber is not None:
        return await _pay_bill(session, tenant_id, row, payment, target.subscriber)
    if target.kind == "till" and target.choices > 0:
        return await _record(session, tenant_id, row, payment, "unclaimed", None)
    if target.plan is None or target.kind not in ("voucher", "phone"):
        return await _record(session, tenant_id, row, payment, "held", target.note)
    outcome = await _record(session, tenant_id, row, payment, "granted", None)
    if outcome.verdict == "duplicate":  # a concurrent delivery of it committed first
        return outcome
    assert outcome.payment_id is not None  # noqa: S101
    await grants.grant(
        session,
        payment_id=outcome.payment_id,
        amount=payment.amount,
        plan=target.plan,
        extend=target.voucher,
        phone=target.phone,
    )
    return outcome


async def _pay_bill(
    session: AsyncSession, tenant_id: int, row: PaymentSettings, payment: wire.C2BPayment,
    subscriber: RowMapping,
) -> Outcome:  # fmt: skip
    """A subscriber's bill paid from the M-Pesa menu: recorded once (by receipt), credited once
    (the payment's id is unique among renewals)."""
    outcome = await _record(session, tenant_id, row, payment, "granted", None)
    if outcome.verdict == "duplicate":  # a concurrent delivery of it committed first
        return outcome
    assert outcome.payment_id is not None  # noqa: S101
    renewed = await billing.renew(session, tenant_id, subscriber["id"],
                                  payment_id=outcome.payment_id, amount=payment.amount,
                                  receipt=payment.receipt)  # fmt: skip
    if renewed is None:  # removed meanwhile: the money waits for staff
        await repository.hold(session, tenant_id, outcome.payment_id,
                              "the subscriber this account named was removed")  # fmt: skip
    return outcome


async def _record(
    session: AsyncSession,
    tenant_id: int,
    row: PaymentSettings,
    payment: wire.C2BPayment,
    status: str,
    note: str | None,
) -> Outcome:
    payment_id = await repository.insert_c2b_payment(
        session,
        tenant_id,
        {
            "receipt": payment.receipt,
            "amount": payment.amount,
            "currency": row.currency,
            "phone": payment.phone or None,
            "ref": payment.bill_ref or None,
            "shortcode": payment.shortcode,
            "paid_at": payment.paid_at,
            "status": status,
            "note": note,
        },
    )
    if payment_id is None:  # the insert waited for a concurrent delivery's, which committed
        existing = await repository.payment_id(session, tenant_id, payment.receipt)
        return Outcome("duplicate", "receipt already recorded", existing)
    verdict_note = None if status == "granted" else f"{status}: {note or 'awaiting its claim'}"
    return Outcome("ok", verdict_note, payment_id)


# ------------------------------------------------------------------ claims on the portal


async def claim(
    session: AsyncSession,
    tenant_id: int,
    receipt_text: str,
    plan_id: int,
    caller: limits.Caller,
) -> dict[str, object]:
    """ "Already paid? Enter your M-Pesa code": turns an unclaimed (till) or held payment into
    the chosen package, once. Codes that name no payment count against the phone and its
    address; a code that does gives its attempt back, whatever happens next."""
    await limits.attempt(
        "claim",
        tenant_id,
        caller,
        config.get_settings().claim_max_failures,
        "Too many wrong M-Pesa codes; wait and try again",
    )
    try:
        receipt = wire.receipt(receipt_text, "M-Pesa code")
    except wire.Malformed:
        raise BadRequest(
            "That is not an M-Pesa code (10 letters and digits, e.g. SKL4XYZ12A)"
        ) from None
    payment = await repository.lock_payment(session, tenant_id, receipt)
    if payment is None:
        raise NotFound(
            "We have not received a payment with this code yet. Check it, or try again in a minute"
        )
    await limits.succeeded("claim", tenant_id, caller)
    if payment["status"] == "granted":
        raise Conflict("This M-Pesa code has already been used for a voucher")
    plan = await grants.plan_for(session, tenant_id, plan_id)
    if plan is None or not plan["active"]:
        raise NotFound("No such package")
    if Decimal(plan["price"]) != payment["amount"]:
        raise BadRequest(
            f"This payment was {payment['currency']} {payment['amount']:.0f}; choose the "
            "package with that price"
        )
    await repository.grant_claimed(session, tenant_id, payment["id"])
    granted = await grants.grant(
        session, payment_id=payment["id"], amount=payment["amount"], plan=plan
    )
    return {
        "status": "paid",
        "receipt": receipt,
        "amount": payment["amount"],
        "currency": payment["currency"],
        "plan_id": plan["id"],
        "voucher": {"code": granted.code, "extended": False},
    }


# ------------------------------------------------------------------ URL registration


async def register_urls(
    session: AsyncSession, principal: Principal, meta: audit.Meta = None
) -> dict[str, object]:
    """Registers this ISP's validation and confirmation URLs with Daraja (ResponseType
    Completed: if our validation cannot be reached, M-Pesa completes the payment and the
    confirmation still records it)."""
    row = await repository.settings_row(session, principal.tenant_id)
    if row is None:
        raise NotFound("M-Pesa is not set up yet")
    shortcode = row.c2b_shortcode or row.till_number or row.shortcode
    body = {
        "ShortCode": shortcode,
        "ResponseType": "Completed",
        "ConfirmationURL": callback_url(row.tenant_id, row.callback_token_enc, "c2b/confirm"),
        "ValidationURL": callback_url(row.tenant_id, row.callback_token_enc, "c2b/validate"),
    }
    url = base_url(row.environment, config.get_settings().daraja_url)
    http = outbound.client("daraja", daraja.TIMEOUT)  # kept: api/outbound.py
    try:
        answer = await Client(TokenCache(get_redis(), http, url), account(row)).post(
            f"/mpesa/c2b/{row.c2b_api_version}/registerurl", body
        )
    except DarajaError as exc:
        if exc.status is None or exc.status >= 500 and "already" not in str(exc).lower():
            raise ServiceUnavailable(f"Daraja did not register the URLs: {exc}") from exc
        raise BadRequest(f"Daraja refused the registration: {exc}") from exc
    row.c2b_registered_at = await repository.db_now(session)
    await audit.record(
        session, principal, "payments.c2b.register", "tenant", principal.tenant_id,
        {"shortcode": shortcode, "api_version": row.c2b_api_version}, meta,
    )  # fmt: skip
    return {"status": "registered", "shortcode": shortcode, "response": answer}
