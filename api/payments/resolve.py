"""Staff resolving money that bought nothing: a till payment nobody claimed, or money held
because it matched no package or named a spent voucher (c2b.py). The customer phones the ISP;
someone with payments:resolve gives the payment the package it paid for, once.

The same rules hold as for the customer's own claim on the portal (c2b.claim): the payment is
locked, a payment already granted is refused, the package must cost what was paid, and the
grant is written in the same transaction (payment_grant's unique payment_id makes a second one
impossible). Staff may also extend a live voucher instead of making a new one, and must say
why: the reason is kept on the payment and in the audit log, with who did it."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest, Conflict, NotFound
from api.payments import grants, repository
from api.payments.schemas import ResolveIn
from api.phones import normalize_phone
from api.tenancy import Principal
from api.vouchers.schemas import normalize_code

RESOLVABLE = ("unclaimed", "held")


def _full_number(phone: str | None) -> str | None:
    """The payer's number when Daraja sent it whole (v2 confirmations mask it)."""
    return phone if phone and re.fullmatch(r"254[17]\d{8}", phone) else None


async def resolve(
    session: AsyncSession, principal: Principal, data: ResolveIn, meta: audit.Meta = None
) -> dict[str, Any]:
    tenant_id = principal.tenant_id
    receipt = data.receipt.strip().upper()
    payment = await repository.lock_payment(session, tenant_id, receipt)
    if payment is None:
        raise NotFound("No payment with this M-Pesa code")
    if payment["status"] not in RESOLVABLE:
        raise Conflict("This payment has already bought a voucher or an extension")
    plan = await grants.plan_for(session, tenant_id, data.plan_id)
    if plan is None or not plan["active"]:
        raise NotFound("No such package")
    if Decimal(plan["price"]) != payment["amount"]:
        raise BadRequest(
            f"This payment was {payment['currency']} {payment['amount']:.0f}; choose a package "
            "with that price"
        )
    phone = None
    if data.phone:
        try:
            phone = normalize_phone(data.phone)
        except ValueError:
            raise BadRequest("phone: not a Kenyan mobile number; use e.g. 0712345678") from None
    extend = None
    if data.voucher_code:
        code = normalize_code(data.voucher_code)
        if code is None:
            raise BadRequest("voucher_code: not a voucher code")
        extend = await grants.live_voucher(session, tenant_id, code=code)
        if extend is None:
            raise NotFound("No live voucher with this code (only unused or active ones grow)")
    reason = " ".join(data.reason.split())
    await repository.grant_resolved(
        session, tenant_id, payment["id"], f"resolved by {principal.email}: {reason}"
    )
    granted = await grants.grant(
        session, payment_id=payment["id"], amount=payment["amount"], plan=plan, extend=extend,
        phone=phone or _full_number(payment["phone"]),
    )  # fmt: skip
    await audit.changed(
        session, principal, "payment.resolve", "payment", payment["id"],
        {"status": payment["status"]}, {"status": "granted"}, meta,
        details={"receipt": receipt, "amount": str(payment["amount"]), "plan_id": plan["id"],
                 "voucher": granted.code, "kind": granted.kind, "reason": reason},
    )  # fmt: skip
    return {
        "receipt": receipt,
        "amount": payment["amount"],
        "currency": payment["currency"],
        "plan_id": plan["id"],
        "voucher": {"code": granted.code, "extended": granted.kind == "extend"},
    }
