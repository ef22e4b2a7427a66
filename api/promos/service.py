"""Promo codes: the ISP's discounts (staff create and change them) and what a code does to a
price on the portal.

quote() runs in the purchase's transaction before the STK push, redeem() in the payment's when
a purchase that used a code is paid. Uses are counted when paid, but a purchase awaiting payment
holds one for 10 minutes (the customer is typing their PIN), so a code at its cap is not sold
twice. The SQL is in repository.py."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest, Conflict, NotFound
from api.promos import repository
from api.promos.schemas import CODE, PromoCreate, PromoUpdate, check_terms, normalize_code
from api.tenancy import Principal

log = logging.getLogger(__name__)

# What a customer reads on the portal when a code cannot be used, one sentence per reason.
# Another ISP's code is UNKNOWN too: a portal must not reveal what other ISPs sell.
UNKNOWN = "This promo code does not exist. Check the spelling and try again."
INACTIVE = "This promo code is no longer available."
NOT_STARTED = "This promo code cannot be used yet."
ENDED = "This promo code has expired."
USED_UP = "This promo code has been used up."
WRONG_PLAN = "This promo code is not valid for this package."


@dataclass(frozen=True)
class Quote:
    list_price: int  # the plan's price
    amount: int  # what the customer pays: list_price - discount, never below 1
    discount: int
    promo_id: int | None
    code: str | None


# ---------------------------------------------------------------- the portal's side


async def quote(
    session: AsyncSession, tenant_id: int, plan: RowMapping | Mapping[str, Any], code: str | None
) -> Quote:
    """The price of `plan` with `code` (None or blank: no code), or BadRequest saying why the
    code cannot be used. Locks the promo row until the caller's transaction ends, so the caller
    must insert its pending purchase in that same transaction for the cap to hold."""
    price = int(plan["price"])
    if code is None or not code.strip():
        return Quote(list_price=price, amount=price, discount=0, promo_id=None, code=None)
    promo = await _lock_usable(session, tenant_id, normalize_code(code), plan["id"])
    if promo["max_uses"] is not None:
        pending = await repository.pending(session, tenant_id, promo["id"])
        if promo["uses"] + pending >= promo["max_uses"]:
            raise BadRequest(USED_UP)
    amount = discounted(price, promo["kind"], promo["value"])
    return Quote(
        list_price=price,
        amount=amount,
        discount=price - amount,
        promo_id=promo["id"],
        code=promo["code"],
    )


def discounted(price: int, kind: str, value: int) -> int:
    """The price after the discount, whole KES rounded in the customer's favour, never below
    1 KES (M-Pesa's minimum) and never above the price (a free plan stays free)."""
    discount = price * value // 100 if kind == "percent" else value
    return max(min(price, 1), price - discount)


async def _lock_usable(
    session: AsyncSession, tenant_id: int, code: str, plan_id: int
) -> RowMapping:
    if not CODE.match(code):
        raise BadRequest(UNKNOWN)
    promo = await repository.lock_by_code(session, tenant_id, code)
    if promo is None:
        raise BadRequest(UNKNOWN)
    for refused, message in (
        (not promo["active"], INACTIVE),
        (promo["not_started"], NOT_STARTED),
        (promo["ended"], ENDED),
        (promo["plan_id"] is not None and promo["plan_id"] != plan_id, WRONG_PLAN),
    ):
        if refused:
            raise BadRequest(message)
    return promo


async def redeem(session: AsyncSession, tenant_id: int, promo_id: int) -> None:
    """Counts one paid purchase. Never fails the payment it is part of: a deleted promo is a
    no-op, and a database error only loses the count (in a savepoint, logged)."""
    try:
        async with session.begin_nested():
            await repository.count_use(session, tenant_id, promo_id)
    except DBAPIError:
        log.exception("could not count a use of promo %s", promo_id)


# ---------------------------------------------------------------- staff


async def list_promos(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    return await repository.list_(session, principal.tenant_id)


async def get_promo(session: AsyncSession, principal: Principal, promo_id: int) -> dict[str, Any]:
    promo = await repository.get(session, principal.tenant_id, promo_id)
    if promo is None:
        raise NotFound("Promo code not found")
    return promo


async def create_promo(
    session: AsyncSession, principal: Principal, data: PromoCreate, meta: audit.Meta = None
) -> dict[str, Any]:
    await _check_plan(session, principal.tenant_id, data.plan_id)
    promo_id = await repository.insert(session, principal.tenant_id, data.model_dump())
    if promo_id is None:
        raise Conflict(
            f"You already have a promo code {data.code} (an inactive one can be reactivated "
            "with PATCH active=true)"
        )
    details = data.model_dump(mode="json")
    await audit.changed(
        session,
        principal,
        "promo.create",
        "promo_code",
        promo_id,
        {},
        details,
        meta,
        details=details,
    )
    return await get_promo(session, principal, promo_id)


async def update_promo(
    session: AsyncSession,
    principal: Principal,
    promo_id: int,
    data: PromoUpdate,
    meta: audit.Meta = None,
) -> dict[str, Any]:
    """Purchases already made keep the price they were quoted (the push asked for it)."""
    current = await _lock(session, principal.tenant_id, promo_id)
    values = data.model_dump(exclude_unset=True)
    merged = {**current, **values}
    try:
        check_terms(merged["kind"], merged["value"], merged["starts_at"], merged["ends_at"])
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if "plan_id" in values:
        await _check_plan(session, principal.tenant_id, values["plan_id"])
    await repository.update(session, principal.tenant_id, promo_id, merged)
    details = data.model_dump(mode="json", exclude_unset=True)
    await audit.changed(
        session,
        principal,
        "promo.update",
        "promo_code",
        promo_id,
        current,
        merged,
        meta,
        details=details,
    )
    return await get_promo(session, principal, promo_id)


async def deactivate_promo(
    session: AsyncSession, principal: Principal, promo_id: int, meta: audit.Meta = None
) -> None:
    """A promo is never deleted: past purchases keep their reference, and it stays listed as
    inactive (PATCH active=true brings it back). Deactivating an inactive one changes nothing."""
    current = await _lock(session, principal.tenant_id, promo_id)
    if not current["active"]:
        return
    await repository.deactivate(session, principal.tenant_id, promo_id)
    details = {"code": current["code"]}
    await audit.changed(
        session,
        principal,
        "promo.deactivate",
        "promo_code",
        promo_id,
        {"active": True},
        {"active": False},
        meta,
        details=details,
    )


async def _lock(session: AsyncSession, tenant_id: int, promo_id: int) -> dict[str, Any]:
    promo = await repository.lock(session, tenant_id, promo_id)
    if promo is None:
        raise NotFound("Promo code not found")
    return promo


async def _check_plan(session: AsyncSession, tenant_id: int, plan_id: int | None) -> None:
    if plan_id is None:
        return
    if not await repository.plan_exists(session, tenant_id, plan_id):
        raise NotFound("No such plan")
