"""STK push purchases: asking a customer's phone for the money, and settling the answer.

A purchase row is committed before Daraja is called, so every push Daraja knows about exists
here first. Settlement (from a callback, a C2B confirmation or STK Query) locks the row, and the
payment, the grant and the status change are one transaction: a payment grants exactly once
however many times, and through however many channels, it is reported.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from api import config
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, TooManyRequests
from api.payments import grants, wire
from api.payments.daraja import Client, DarajaError, TokenCache, base_url, normalize_phone
from api.payments.service import account, callback_url, settings_row
from api.promos import service as promos
from api.security import get_redis
from api.vouchers.schemas import ALPHABET

log = logging.getLogger(__name__)


def channel(public_id: str) -> str:
    """Redis pub/sub channel on which a purchase's status changes are announced."""
    return f"purchase:{public_id}"


async def announce(public_id: str) -> None:
    """Wakes the portal's live status stream; it re-reads the database, so a lost message only
    costs a poll interval."""
    try:
        await get_redis().publish(channel(public_id), "changed")
    except Exception:  # noqa: BLE001 - the stream polls anyway
        log.warning("could not announce purchase %s", public_id)


def new_reference() -> str:
    """AccountReference (<= 12): shown in the customer's M-Pesa SMS, and how a C2B confirmation
    of this same payment finds its purchase."""
    return "WF" + "".join(secrets.choice(ALPHABET) for _ in range(8))


@dataclass(frozen=True)
class Outcome:
    verdict: str  # ok | duplicate | mismatch
    reason: str | None = None
    payment_id: int | None = None


async def lock_request(
    session: AsyncSession, tenant_id: int, *, checkout_id: str | None = None,
    reference: str | None = None, request_id: int | None = None,
) -> RowMapping | None:  # fmt: skip
    key: object
    if checkout_id is not None:
        where, key = "checkout_request_id = :key", checkout_id
    elif reference is not None:
        where, key = "reference = :key", reference
    else:
        where, key = "id = :key", request_id
    result = await session.execute(
        text(f"SELECT * FROM stk_request WHERE tenant_id = :tenant_id AND {where} FOR UPDATE"),  # noqa: S608
        {"tenant_id": tenant_id, "key": key},
    )
    return result.mappings().first()


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
    if amount is not None and amount != Decimal(req["amount"]):
        return Outcome("mismatch", f"amount {amount} but the push asked for {req['amount']}")
    if phone is not None and phone != req["phone"]:
        return Outcome("mismatch", "paid from another phone than the push went to")
    tenant_id = req["tenant_id"]
    if req["status"] == "paid":
        payment_id = await session.scalar(
            text("SELECT id FROM payment WHERE stk_request_id = :id"), {"id": req["id"]}
        )
        if receipt is not None:
            await _attach_receipt(session, req, payment_id, receipt)
        return Outcome("duplicate", "already paid; granted once", payment_id)
    existing = await _payment_with_receipt(session, tenant_id, receipt)
    if existing is not None:
        foreign = _foreign_receipt(req, existing)
        if foreign is not None:
            # Marking the purchase paid here would show "paid" with no payment of its own.
            return Outcome("mismatch", foreign)
    await _mark_paid(session, req, receipt, desc)
    if req["promo_code_id"] is not None:  # once: a paid purchase returned above
        await promos.redeem(session, req["promo_code_id"])
    if existing is not None and existing["status"] == "granted":
        # The C2B echo of this very payment was granted first (a till payment claimed on the
        # portal): the purchase is paid by it; the lock above makes the link unique.
        await session.execute(
            text("UPDATE payment SET stk_request_id = :req WHERE id = :id"),
            {"req": req["id"], "id": existing["id"]},
        )
        return Outcome("duplicate", "granted already through C2B", existing["id"])
    if existing is not None:
        payment_id = existing["id"]
        await session.execute(
            text("""UPDATE payment SET stk_request_id = :req, status = 'granted'
                     WHERE id = :id"""),
            {"req": req["id"], "id": payment_id},
        )
    else:
        payment_id = await session.scalar(
            text("""
                INSERT INTO payment (tenant_id, source, receipt, stk_request_id, amount, currency,
                                     phone, account_reference, paid_at, status)
                SELECT :tenant_id, 'stk', :receipt, :req, :amount, s.currency, :phone,
                       :reference, :paid_at, 'granted'
                  FROM payment_settings s WHERE s.tenant_id = :tenant_id
                RETURNING id"""),
            {
                "tenant_id": tenant_id,
                "receipt": receipt,
                "req": req["id"],
                "amount": req["amount"],
                "phone": req["phone"],
                "reference": req["reference"],
                "paid_at": paid_at,
            },
        )
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
    return Outcome("ok", None, payment_id)


async def _payment_with_receipt(
    session: AsyncSession, tenant_id: int, receipt: str | None
) -> RowMapping | None:
    """The payment already recorded under this M-Pesa receipt, locked (None for no receipt)."""
    if receipt is None:
        return None
    result = await session.execute(
        text("""SELECT * FROM payment WHERE tenant_id = :tenant_id AND receipt = :receipt
                FOR UPDATE"""),
        {"tenant_id": tenant_id, "receipt": receipt},
    )
    return result.mappings().first()


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
    await session.execute(
        text("""UPDATE stk_request SET status = 'paid', receipt = COALESCE(:receipt, receipt),
                       result_code = '0', result_desc = :desc, updated_at = now(),
                       next_query_at = now() + CAST(:confirm AS interval)
                 WHERE id = :id"""),
        {"id": req["id"], "receipt": receipt, "desc": desc, "confirm": confirm},
    )


async def _attach_receipt(
    session: AsyncSession, req: RowMapping, payment_id: int | None, receipt: str
) -> None:
    """A purchase granted on STK Query's word learns its receipt from the late callback."""
    if payment_id is None:
        return
    attached = await session.scalar(
        text("""
            UPDATE payment SET receipt = :receipt
             WHERE id = :id AND receipt IS NULL
               AND NOT EXISTS (SELECT 1 FROM payment o
                                WHERE o.tenant_id = payment.tenant_id AND o.receipt = :receipt)
            RETURNING id"""),
        {"id": payment_id, "receipt": receipt},
    )
    if attached is None:  # it has its receipt, or this one belongs to another payment
        return
    await session.execute(
        text("UPDATE stk_request SET receipt = :receipt WHERE id = :id AND receipt IS NULL"),
        {"id": req["id"], "receipt": receipt},
    )


async def settle_failure(session: AsyncSession, req: RowMapping, code: str, desc: str) -> Outcome:
    """A failure never overrides a success (money moved; a failure after it is noise)."""
    if req["status"] == "paid":
        return Outcome("duplicate", f"failure {code} after success ignored; never revokes")
    if req["status"] == "failed" and req["result_code"] == code:
        return Outcome("duplicate", "failure already recorded")
    await session.execute(
        text("""UPDATE stk_request SET status = 'failed', result_code = :code, result_desc = :desc,
                       next_query_at = NULL, updated_at = now()
                 WHERE id = :id"""),
        {"id": req["id"], "code": code, "desc": desc[:300]},
    )
    if code in wire.MISCONFIGURED:
        log.error("tenant %s: M-Pesa account misconfigured (%s %s)", req["tenant_id"], code, desc)
    return Outcome("ok")


# ------------------------------------------------------------------ starting a purchase


async def _tenant_by_slug(session: AsyncSession, slug: str | None) -> RowMapping:
    if slug is None:
        raise NotFound("Open this page on your ISP's address (<isp>.<domain>)")
    result = await session.execute(
        text("SELECT id, slug, name FROM tenant WHERE slug = :slug AND active"), {"slug": slug}
    )
    tenant = result.mappings().first()
    if tenant is None:
        raise NotFound(f"No ISP is called {slug!r} here")
    return tenant


async def tenant_for(slug: str | None) -> RowMapping:
    async with unit_of_work() as session:
        return await _tenant_by_slug(session, slug)


async def start(
    tenant_id: int,
    *,
    plan_id: int,
    phone: str,
    voucher_code: str | None = None,
    promo_code: str | None = None,
    client_mac: str | None = None,
    client_ip: str | None = None,
) -> str:
    """Sends an STK push for a plan (or a repurchase onto a live voucher), at the price after
    `promo_code`; returns the purchase's public id. A repeat within the debounce window gets the
    open purchase back."""
    settings = config.get_settings()
    try:
        msisdn = normalize_phone(phone)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    redis = get_redis()
    lock = f"stk:pushing:{tenant_id}:{msisdn}"
    if not await redis.set(lock, "1", nx=True, ex=30):
        raise TooManyRequests("A payment request to this phone is being sent", retry_after=5)
    try:
        return await _start(
            tenant_id, settings, plan_id, msisdn, voucher_code, promo_code, client_mac, client_ip
        )
    finally:
        await redis.delete(lock)


async def _start(
    tenant_id: int,
    settings: config.Settings,
    plan_id: int,
    msisdn: str,
    voucher_code: str | None,
    promo_code: str | None,
    client_mac: str | None,
    client_ip: str | None,
) -> str:
    async with unit_of_work() as session:
        row = await settings_row(session, tenant_id)
        if row is None:
            raise ServiceUnavailable("This ISP does not take M-Pesa payments yet")
        plan = await grants.plan_for(session, tenant_id, plan_id)
        if plan is None or not plan["active"]:
            raise NotFound("No such package")
        if plan["price"] < 1:
            raise BadRequest("This package is free; it needs no payment")
        voucher_id = None
        if voucher_code:
            code = voucher_code.strip().upper()
            target = await grants.live_voucher(session, tenant_id, code=code)
            exists = await session.scalar(
                text("SELECT 1 FROM voucher WHERE tenant_id = :t AND code = :c"),
                {"t": tenant_id, "c": code},
            )
            if not exists:
                raise NotFound("No such voucher")
            voucher_id = target["id"] if target is not None else None  # expired: buy a new one
        # The promo row stays locked until this purchase is committed, so its usage cap counts
        # it before anyone else's quote.
        price = await promos.quote(session, tenant_id, plan, promo_code)
        recent = await session.execute(
            text("""SELECT public_id, plan_id, voucher_id, amount FROM stk_request
                     WHERE tenant_id = :t AND phone = :phone AND status = 'pending'
                       AND created_at > now() - CAST(:window AS interval)
                     ORDER BY created_at DESC LIMIT 1"""),
            {"t": tenant_id, "phone": msisdn, "window": settings.stk_debounce},
        )
        open_push = recent.mappings().first()
        if open_push is not None:
            same = (open_push["plan_id"], open_push["voucher_id"], open_push["amount"])
            if same == (plan_id, voucher_id, price.amount):
                return str(open_push["public_id"])
            raise Conflict(
                "A payment prompt is already open on this phone; answer or cancel it first"
            )
        pushes = await session.scalar(
            text("""SELECT count(*) FROM stk_request
                     WHERE tenant_id = :t AND phone = :phone
                       AND created_at > now() - CAST(:window AS interval)"""),
            {"t": tenant_id, "phone": msisdn, "window": settings.stk_push_window},
        )
        if pushes >= settings.stk_pushes_per_phone:
            raise TooManyRequests(
                "Too many payment prompts to this phone; wait a few minutes",
                retry_after=int(settings.stk_push_window.total_seconds()),
            )
        acct = account(row)
        token_enc = row.callback_token_enc
        result = await session.execute(
            text("""
                INSERT INTO stk_request (tenant_id, plan_id, voucher_id, phone, amount,
                                         list_price, promo_code_id, account_type, reference,
                                         client_mac, client_ip)
                VALUES (:t, :plan, :voucher, :phone, :amount, :list_price, :promo, :type, :ref,
                        :mac, :ip)
                RETURNING id, public_id, reference, amount"""),
            {
                "t": tenant_id,
                "plan": plan_id,
                "voucher": voucher_id,
                "phone": msisdn,
                "amount": price.amount,
                "list_price": price.list_price,
                "promo": price.promo_id,
                "type": acct.account_type,
                "ref": new_reference(),
                "mac": client_mac,
                "ip": client_ip,
            },
        )
        req = result.mappings().one()
        plan_name = plan["name"]
    public_id = str(req["public_id"])
    url = base_url(acct.environment, settings.daraja_url)
    try:
        async with httpx.AsyncClient(timeout=15) as http:
            answer = await Client(TokenCache(get_redis(), http, url), acct).stk_push(
                phone=msisdn,
                amount=req["amount"],
                callback_url=callback_url(tenant_id, token_enc, "stk"),
                reference=req["reference"],
                description=plan_name,
            )
    except (DarajaError, ValueError) as exc:
        async with unit_of_work() as session:
            await session.execute(
                text("""UPDATE stk_request SET status = 'failed', result_code = 'push_refused',
                               result_desc = :desc, updated_at = now() WHERE id = :id"""),
                {"id": req["id"], "desc": str(exc)[:300]},
            )
        log.warning("tenant %s: STK push refused: %s", tenant_id, exc)
        return public_id
    async with unit_of_work() as session:
        await session.execute(
            text("""UPDATE stk_request
                       SET merchant_request_id = :merchant, checkout_request_id = :checkout,
                           next_query_at = now() + CAST(:after AS interval), updated_at = now()
                     WHERE id = :id"""),
            {
                "id": req["id"],
                "merchant": str(answer.get("MerchantRequestID", ""))[:80] or None,
                "checkout": str(answer.get("CheckoutRequestID", ""))[:80] or None,
                "after": settings.stk_query_after,
            },
        )
    # A callback faster than our commit was logged as unknown: judge it again now.
    from api.payments import hooks  # noqa: PLC0415 - hooks imports this module

    await hooks.replay_unknown(tenant_id, str(answer.get("CheckoutRequestID", "")))
    return public_id


# ------------------------------------------------------------------ status


async def plans_on_sale(tenant_id: int) -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                SELECT p.id, p.name, p.price, COALESCE(s.currency, 'KES') AS currency,
                       p.duration_seconds, p.time_quota_seconds, p.data_quota_bytes,
                       p.upload_kbps, p.download_kbps, p.device_limit
                  FROM plan p LEFT JOIN payment_settings s ON s.tenant_id = p.tenant_id
                 WHERE p.tenant_id = :t AND p.active AND p.price > 0
                 ORDER BY p.price, p.id"""),
            {"t": tenant_id},
        )
        return [dict(row) for row in result.mappings()]


async def status(tenant_id: int, public_id: str) -> dict[str, Any]:
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                SELECT r.public_id, r.status, r.amount, r.phone, r.plan_id, r.result_code,
                       r.result_desc, r.receipt, r.created_at, s.currency,
                       v.code AS voucher_code, g.kind AS grant_kind
                  FROM stk_request r
                  JOIN payment_settings s ON s.tenant_id = r.tenant_id
                  LEFT JOIN payment p ON p.stk_request_id = r.id
                  LEFT JOIN payment_grant g ON g.payment_id = p.id
                  LEFT JOIN voucher v ON v.id = g.voucher_id
                 WHERE r.tenant_id = :t AND r.public_id = CAST(:id AS uuid)"""),
            {"t": tenant_id, "id": public_id},
        )
        row = result.mappings().first()
    if row is None:
        raise NotFound("No such purchase")
    out: dict[str, Any] = {
        "id": str(row["public_id"]),
        "status": row["status"],
        "amount": row["amount"],
        "currency": row["currency"],
        "plan_id": row["plan_id"],
        "phone": row["phone"][:6] + "***" + row["phone"][-3:],
        "created_at": row["created_at"].isoformat(),
        "reason": None,
        "result_code": row["result_code"],
        "voucher": None,
    }
    if row["status"] == "failed":
        out["reason"] = wire.reason(row["result_code"], row["result_desc"])
    elif row["status"] == "pending":
        out["reason"] = wire.reason(None)
    elif row["voucher_code"] is not None:
        out["voucher"] = {"code": row["voucher_code"], "extended": row["grant_kind"] == "extend"}
        out["receipt"] = row["receipt"]
    return out


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
