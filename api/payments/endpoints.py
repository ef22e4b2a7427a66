"""The payments HTTP routes: staff reading and setting up an ISP's M-Pesa (/api/v1/payments),
and the customer's side of paying on the ISP's own address (/api/v1/portal, <isp>.<base_domain>):
start a purchase, watch it live (Server-Sent Events), or claim a payment made from the M-Pesa
menu. Nobody logs in on the portal; the purchase id (a random UUID) is the customer's handle on
it. Daraja's own door is callbacks.py. The routes call services; they hold no SQL."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api import sse
from api.config import get_settings
from api.db import unit_of_work
from api.deps import ClientDevice, ClientIP, ClientMeta, DbId, SessionDep
from api.errors import NotFound
from api.payments import c2b, ledger, queries, resolve, service, stk, streams
from api.payments.schemas import (
    ClaimIn,
    PaymentSettingsIn,
    PaymentSettingsOut,
    PurchaseIn,
    QuoteIn,
    ResolveIn,
)
from api.permissions import P
from api.sse import SlotResponse
from api.tenancy import Principal, public, require, subdomain_slug

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]


@router.get("/settings", response_model=PaymentSettingsOut)
async def get_payment_settings(principal: Reader, session: SessionDep) -> PaymentSettingsOut:
    return await service.get_settings(session, principal)


@router.put("/settings", response_model=PaymentSettingsOut)
async def save_payment_settings(
    body: PaymentSettingsIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PaymentSettingsOut:
    return await service.save_settings(session, principal, body, meta)


@router.post("/settings/test")
async def test_payment_settings(
    principal: Writer, session: SessionDep, meta: ClientMeta
) -> dict[str, str]:
    return await service.test_connection(session, principal, meta)


Payments = Annotated[Principal, Depends(require(P.PAYMENTS_READ))]
Page = Annotated[int, Query(ge=1, le=200)]


@router.get("")
async def list_payments(
    principal: Payments, session: SessionDep, limit: Page = 50, before: DbId | None = None,
    waiting: bool = False,
    receipt: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{6,20}$")] = None,
    phone: Annotated[str | None, Query(pattern=r"^254[17][0-9]{8}$")] = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Money received, newest first, with the voucher each payment bought. `waiting`: only
    money that bought nothing yet (unclaimed or held); `receipt`, `phone` (2547...): search."""
    return await queries.payments(
        session, principal.tenant_id, limit, before, waiting=waiting,
        receipt=receipt.upper() if receipt else None, phone=phone,
    )  # fmt: skip


@router.get("/purchases")
async def list_purchases(
    principal: Payments, session: SessionDep, limit: Page = 50, before: DbId | None = None
) -> list[dict[str, Any]]:
    """STK pushes and what became of them (pending, paid, failed with the reason)."""
    return await queries.purchases(session, principal.tenant_id, limit, before)


@router.get("/events")
async def list_events(
    principal: Payments, session: SessionDep, limit: Page = 50, before: DbId | None = None
) -> list[dict[str, Any]]:
    """Every callback as it arrived, with its verdict (forged ones included)."""
    return await queries.events(session, principal.tenant_id, limit, before)


@router.get("/check")
async def money_check(principal: Payments, session: SessionDep) -> dict[str, object]:
    """The money invariant for this ISP: every payment granted once, every grant paid."""
    return await ledger.check(session, principal.tenant_id)


@router.post("/resolve")
async def resolve_payment(
    body: ResolveIn, principal: Annotated[Principal, Depends(require(P.PAYMENTS_RESOLVE))],
    session: SessionDep, meta: ClientMeta,
) -> dict[str, Any]:  # fmt: skip
    """Gives an unclaimed or held payment (by its M-Pesa code) the package it paid for: a new
    voucher, or more time on a live one; once, with a reason, audited. 404 for a code this
    ISP never received, 409 when it already bought something, 400 for a package of another
    price."""
    return await resolve.resolve(session, principal, body, meta)


@router.post("/c2b/register")
async def register_c2b(
    principal: Writer, session: SessionDep, meta: ClientMeta
) -> dict[str, object]:
    """Registers this ISP's C2B validation and confirmation URLs with Daraja."""
    return await c2b.register_urls(session, principal, meta)


# ------------------------------------------------------------------ the portal (customers)

# The customer's portal: no login by design, the ISP comes from the Host header.
portal_router = APIRouter(
    prefix="/api/v1/portal",
    tags=["portal"],
    dependencies=[Depends(public("the customer portal: the ISP comes from the address"))],
)
POLL = 2.0  # seconds between database reads when no announcement comes
HEARTBEAT = 15.0
RETRY_MS = 5000  # SSE reconnection delay we ask browsers for


async def portal_tenant(request: Request) -> int:
    tenant = await stk.tenant_for(subdomain_slug(request))
    return int(tenant["id"])


TenantId = Annotated[int, Depends(portal_tenant)]


def _purchase_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise NotFound("No such purchase") from None


@portal_router.get("/plans")
async def list_plans(tenant_id: TenantId) -> list[dict[str, Any]]:
    """The packages on sale, cheapest first."""
    return await stk.plans_on_sale(tenant_id)


@portal_router.post("/quote")
async def quote_price(body: QuoteIn, tenant_id: TenantId, caller: ClientDevice) -> dict[str, Any]:
    """The price to pay for a package with a promo code (422 with the reason if it can't be
    used). The purchase applies the same rules again when it is made."""
    price = await stk.quote(tenant_id, body.plan_id, body.promo_code, caller)
    return {"plan_id": body.plan_id, "list_price": price.list_price, "amount": price.amount,
            "discount": price.discount, "promo_code": price.code}  # fmt: skip


@portal_router.post("/purchases", status_code=202)
async def start_purchase(body: PurchaseIn, tenant_id: TenantId, ip: ClientIP) -> dict[str, Any]:
    """Sends the M-Pesa prompt to the phone; the answer comes on the status stream."""
    public_id = await stk.start(
        tenant_id,
        plan_id=body.plan_id,
        phone=body.phone,
        voucher_code=body.voucher_code,
        promo_code=body.promo_code,
        client_mac=body.client_mac,
        client_ip=ip,
        offers=body.offers,
        language=body.language,
    )
    return await stk.status(tenant_id, public_id)


@portal_router.get("/purchases/{purchase_id}")
async def purchase_status(purchase_id: str, tenant_id: TenantId) -> dict[str, Any]:
    return await stk.status(tenant_id, _purchase_id(purchase_id))


@portal_router.get("/purchases/{purchase_id}/events")
async def purchase_events(
    purchase_id: str, tenant_id: TenantId, request: Request, ip: ClientIP
) -> SlotResponse:
    """`event: status` with the purchase each time it changes, until it is paid or failed or
    portal_stream_lifetime has passed. 429 (with Retry-After) when the client's address or
    this process has as many streams open as allowed."""
    public_id = _purchase_id(purchase_id)
    first = await stk.status(tenant_id, public_id)  # 404 before the stream starts
    slot = streams.acquire(ip)  # last thing before the response, which always gives it back
    return SlotResponse(slot, _stream(request, tenant_id, first))


async def _stream(request: Request, tenant_id: int, current: dict[str, Any]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    lifetime = get_settings().portal_stream_lifetime.total_seconds()
    deadline, beat = loop.time() + lifetime, loop.time() + HEARTBEAT
    # Watching before the first event goes out: a change announced meanwhile is not left to the
    # poll, and the announcement listener is subscribing while the client reads the first line.
    with streams.watching(streams.channel(current["id"])) as announced:
        # retry: if the connection drops while pending, the browser comes back in RETRY_MS.
        yield f"retry: {RETRY_MS}\n" + sse.event("status", current)
        while current["status"] == "pending" and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(announced.wait(), POLL)
            announced.clear()
            if await request.is_disconnected():
                return  # servers that do not cancel the body on disconnect (ASGI 2.4)
            latest = await stk.status(tenant_id, current["id"])
            if latest != current:
                current = latest
                yield sse.event("status", current)
            elif loop.time() > beat:
                yield ": still waiting\n\n"
                beat = loop.time() + HEARTBEAT


@portal_router.post("/claims")
async def claim_payment(body: ClaimIn, tenant_id: TenantId, caller: ClientDevice) -> dict[str, Any]:
    async with unit_of_work() as session:
        return await c2b.claim(session, tenant_id, body.receipt, body.plan_id, caller)
