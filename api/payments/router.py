from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.deps import ClientIP, DbId, SessionDep
from api.payments import c2b, ledger, queries, service
from api.payments.schemas import PaymentSettingsIn, PaymentSettingsOut
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

Reader = Annotated[Principal, Depends(require("settings:read"))]
Writer = Annotated[Principal, Depends(require("settings:write"))]


@router.get("/settings", response_model=PaymentSettingsOut)
async def get_payment_settings(principal: Reader, session: SessionDep) -> PaymentSettingsOut:
    return await service.get_settings(session, principal)


@router.put("/settings", response_model=PaymentSettingsOut)
async def save_payment_settings(
    body: PaymentSettingsIn, principal: Writer, session: SessionDep, ip: ClientIP
) -> PaymentSettingsOut:
    return await service.save_settings(session, principal, body, ip)


@router.post("/settings/test")
async def test_payment_settings(
    principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, str]:
    return await service.test_connection(session, principal, ip)


Payments = Annotated[Principal, Depends(require("payments:read"))]
Page = Annotated[int, Query(ge=1, le=200)]


@router.get("")
async def list_payments(
    principal: Payments, session: SessionDep, limit: Page = 50, before: DbId | None = None
) -> list[dict[str, Any]]:
    """Money received, newest first, with the voucher each payment bought."""
    return await queries.payments(session, principal.tenant_id, limit, before)


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


@router.post("/c2b/register")
async def register_c2b(principal: Writer, session: SessionDep, ip: ClientIP) -> dict[str, object]:
    """Registers this ISP's C2B validation and confirmation URLs with Daraja."""
    return await c2b.register_urls(session, principal, ip)
