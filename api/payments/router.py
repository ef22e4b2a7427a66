from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import ClientIP, SessionDep
from api.payments import service
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
