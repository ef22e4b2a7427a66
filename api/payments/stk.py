"""STK push purchases: asking a customer's phone for the money, and what the portal shows of it.

A purchase row is committed before Daraja is called, so every push Daraja knows about exists
here first. Its answer is settled in settle.py (callbacks judged in events.py, STK Query in
tasks.py)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import config, limits, outbound
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, TooManyRequests
from api.payments import daraja, events, grants, repository, wire
from api.payments.daraja import Account, Client, DarajaError, TokenCache, base_url
from api.payments.service import account, callback_url
from api.phones import normalize_phone
from api.promos import service as promos
from api.security import get_redis
from api.tenants import repository as tenants_repository
from api.vouchers.schemas import ALPHABET

log = logging.getLogger(__name__)
PROMO_FAILURES = 10  # wrong promo codes per device per claim_window


def new_reference() -> str:
    """AccountReference (<= 12): shown in the customer's M-Pesa SMS, and how a C2B confirmation
    of this same payment finds its purchase."""
    return "WF" + "".join(secrets.choice(ALPHABET) for _ in range(8))


# ------------------------------------------------------------------ starting a purchase


async def tenant_for(slug: str | None) -> RowMapping:
    if slug is None:
        raise NotFound("Open this page on your ISP's address (<isp>.<domain>)")
    async with unit_of_work() as session:
        tenant = await tenants_repository.active_tenant(session, slug)
    if tenant is None:
        raise NotFound(f"No ISP is called {slug!r} here")
    return tenant


@dataclass(frozen=True)
class _Order:
    """What a purchase asks for, checked; `push` is the stored purchase to send (None when
    the open purchase of a repeat tap is returned instead)."""

    public_id: str
    push: RowMapping | None = None
    acct: Account | None = None
    token_enc: str | None = None
    plan_name: str = ""


async def start(
    tenant_id: int,
    *,
    plan_id: int,
    phone: str,
    voucher_code: str | None = None,
    promo_code: str | None = None,
    client_mac: str | None = None,
    client_ip: str | None = None,
    offers: bool = False,
    language: str | None = None,
) -> str:
    """Sends an STK push for a plan (or a repurchase onto a live voucher), at the price after
    `promo_code`; returns the purchase's public id. A repeat within the debounce window gets the
    open purchase back. `offers`: "Send me offers" ticked (the phone's consent is recorded when
    this purchase is paid), `language` the portal's."""
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
            tenant_id, plan_id, msisdn, voucher_code, promo_code, client_mac, client_ip,
            (offers, language),
        )  # fmt: skip
    finally:
        await redis.delete(lock)


async def _start(
    tenant_id: int,
    plan_id: int,
    msisdn: str,
    voucher_code: str | None,
    promo_code: str | None,
    client_mac: str | None,
    client_ip: str | None,
    consent: tuple[bool, str | None] = (False, None),
) -> str:
    """Stores the purchase (committed), pushes it, records Daraja's answer, and judges again
    any callback that beat the push's own commit."""
    async with unit_of_work() as session:
        order = await _store(
            session, tenant_id, plan_id, msisdn, voucher_code, promo_code, client_mac, client_ip,
            consent,
        )  # fmt: skip
    if order.push is None:
        return order.public_id
    answer = await _push(tenant_id, msisdn, order)
    if answer is None:
        return order.public_id
    checkout = str(answer.get("CheckoutRequestID", ""))
    async with unit_of_work() as session:
        await repository.push_sent(
            session,
            tenant_id,
            order.push["id"],
            str(answer.get("MerchantRequestID", ""))[:80] or None,
            checkout[:80] or None,
            config.get_settings().stk_query_after,
        )
    # A callback faster than our commit was logged as unknown: judge it again now.
    await events.replay_unknown(tenant_id, checkout)
    return order.public_id


async def _store(
    session: AsyncSession,
    tenant_id: int,
    plan_id: int,
    msisdn: str,
    voucher_code: str | None,
    promo_code: str | None,
    client_mac: str | None,
    client_ip: str | None,
    consent: tuple[bool, str | None],
) -> _Order:
    """The checks, the price and the purchase row, in one transaction."""
    row = await repository.settings_row(session, tenant_id)
    if row is None:
        raise ServiceUnavailable("This ISP does not take M-Pesa payments yet")
    plan = await _plan_on_sale(session, tenant_id, plan_id)
    voucher_id = await _repurchased(session, tenant_id, voucher_code)
    # The promo row stays locked until this purchase is committed, so its usage cap counts
    # it before anyone else's quote.
    price = await promos.quote(session, tenant_id, plan, promo_code)
    open_id = await _open_purchase(session, tenant_id, msisdn, (plan_id, voucher_id, price.amount))
    if open_id is not None:
        return _Order(open_id)
    acct = account(row)
    push = await repository.insert_request(
        session,
        tenant_id,
        {
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
            "offers": consent[0],
            "language": consent[1],
        },
    )
    return _Order(str(push["public_id"]), push, acct, row.callback_token_enc, plan["name"])


async def start_bill(tenant_id: int, subscriber_id: int, phone: str, amount: int) -> str:
    """An STK push for a subscriber's bill (`amount`, whole shillings); returns the purchase's
    public id. Debounced and limited per phone like a package; its success renews the
    subscriber (settle.py) exactly once."""
    try:
        msisdn = normalize_phone(phone)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not 1 <= amount <= 250_000:
        raise BadRequest("An M-Pesa payment is 1 to 250,000 shillings")
    redis = get_redis()
    lock = f"stk:pushing:{tenant_id}:{msisdn}"
    if not await redis.set(lock, "1", nx=True, ex=30):
        raise TooManyRequests("A payment request to this phone is being sent", retry_after=5)
    try:
        async with unit_of_work() as session:
            order = await _store_bill(session, tenant_id, subscriber_id, msisdn, amount)
        if order.push is None:
            return order.public_id
        answer = await _push(tenant_id, msisdn, order)
    finally:
        await redis.delete(lock)
    if answer is not None:
        await _sent(tenant_id, order, answer)
    return order.public_id


async def _store_bill(
    session: AsyncSession, tenant_id: int, subscriber_id: int, msisdn: str, amount: int
) -> _Order:
    row = await repository.settings_row(session, tenant_id)
    if row is None:
        raise ServiceUnavailable("This ISP does not take M-Pesa payments yet")
    open_id = await _open_purchase(session, tenant_id, msisdn, (None, None, amount))
    if open_id is not None:
        return _Order(open_id)
    acct = account(row)
    push = await repository.insert_request(
        session, tenant_id,
        {"plan": None, "voucher": None, "phone": msisdn, "amount": amount, "list_price": amount,
         "promo": None, "type": acct.account_type, "ref": new_reference(), "mac": None,
         "ip": None, "subscriber": subscriber_id},
    )  # fmt: skip
    return _Order(str(push["public_id"]), push, acct, row.callback_token_enc, "Monthly bill")


async def _sent(tenant_id: int, order: _Order, answer: dict[str, Any]) -> None:
    assert order.push is not None  # noqa: S101
    checkout = str(answer.get("CheckoutRequestID", ""))
    async with unit_of_work() as session:
        await repository.push_sent(
            session, tenant_id, order.push["id"],
            str(answer.get("MerchantRequestID", ""))[:80] or None, checkout[:80] or None,
            config.get_settings().stk_query_after,
        )  # fmt: skip
    await events.replay_unknown(tenant_id, checkout)


async def _plan_on_sale(session: AsyncSession, tenant_id: int, plan_id: int) -> RowMapping:
    plan = await grants.plan_for(session, tenant_id, plan_id)
    if plan is None or not plan["active"]:
        raise NotFound("No such package")
    if plan["price"] < 1:
        raise BadRequest("This package is free; it needs no payment")
    return plan


async def _repurchased(session: AsyncSession, tenant_id: int, code: str | None) -> int | None:
    """The live voucher a repurchase extends; None buys a new one (also for an expired one)."""
    if not code:
        return None
    code = code.strip().upper()
    target = await grants.live_voucher(session, tenant_id, code=code)
    if not await repository.voucher_exists(session, tenant_id, code):
        raise NotFound("No such voucher")
    return target["id"] if target is not None else None  # expired: buy a new one


async def _open_purchase(
    session: AsyncSession, tenant_id: int, msisdn: str, wanted: tuple[Any, ...]
) -> str | None:
    """Debounce and limit: a repeat tap gets the open purchase back (its public id), another
    package while a prompt is open is a 409, too many prompts to one phone a 429."""
    settings = config.get_settings()
    open_push = await repository.open_push(session, tenant_id, msisdn, settings.stk_debounce)
    if open_push is not None:
        if (open_push["plan_id"], open_push["voucher_id"], open_push["amount"]) == wanted:
            return str(open_push["public_id"])
        raise Conflict("A payment prompt is already open on this phone; answer or cancel it first")
    pushes = await repository.pushes_since(session, tenant_id, msisdn, settings.stk_push_window)
    if pushes >= settings.stk_pushes_per_phone:
        raise TooManyRequests(
            "Too many payment prompts to this phone; wait a few minutes",
            retry_after=int(settings.stk_push_window.total_seconds()),
        )
    return None


async def _push(tenant_id: int, msisdn: str, order: _Order) -> dict[str, Any] | None:
    """Daraja's answer to the push, or None when it refused it (the purchase is then failed)."""
    assert order.push is not None and order.acct is not None  # noqa: S101
    url = base_url(order.acct.environment, config.get_settings().daraja_url)
    try:
        http = outbound.client("daraja", daraja.TIMEOUT)  # kept: api/outbound.py
        return await Client(TokenCache(get_redis(), http, url), order.acct).stk_push(
            phone=msisdn,
            amount=order.push["amount"],
            callback_url=callback_url(tenant_id, order.token_enc, "stk"),
            reference=order.push["reference"],
            description=order.plan_name,
        )
    except (DarajaError, ValueError) as exc:
        async with unit_of_work() as session:
            await repository.push_refused(session, tenant_id, order.push["id"], str(exc))
        log.warning("tenant %s: STK push refused: %s", tenant_id, exc)
        return None


async def quote(
    tenant_id: int, plan_id: int, promo_code: str | None, caller: limits.Caller
) -> promos.Quote:
    """The price to pay for a package with a promo code (422 with the reason if it can't be
    used); wrong codes count against the device. The purchase applies the same rules again."""
    async with unit_of_work() as session:
        plan = await grants.plan_for(session, tenant_id, plan_id)
        if plan is None or not plan["active"]:
            raise NotFound("No such package")
        message = "Too many wrong promo codes; wait and try again"
        await limits.attempt("promo", tenant_id, caller, PROMO_FAILURES, message)
        price = await promos.quote(session, tenant_id, plan, promo_code)  # 422: counted
        await limits.succeeded("promo", tenant_id, caller)
    return price


# ------------------------------------------------------------------ status


async def plans_on_sale(tenant_id: int) -> list[dict[str, Any]]:
    async with unit_of_work() as session:
        return await repository.plans_on_sale(session, tenant_id)


async def status(tenant_id: int, public_id: str) -> dict[str, Any]:
    async with unit_of_work() as session:
        row = await repository.purchase_status(session, tenant_id, public_id)
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
