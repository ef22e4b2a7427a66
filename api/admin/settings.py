"""The settings page: how long an unused voucher lives and how often routers report usage; the
M-Pesa account (secrets are write-only: a field left empty keeps what is stored) and testing it
against Daraja."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.db import roll_back
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, NotFound
from api.models import Tenant
from api.payments import service as payments
from api.payments.schemas import PaymentSettingsIn
from api.permissions import P
from api.settings import service as settings
from api.settings.schemas import SettingsUpdate
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.SETTINGS_WRITE))]
Field = Annotated[str, Form(max_length=200)]


async def _settings(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    mpesa_form: dict[str, str] | None = None, notice: str | None = None,
) -> HTMLResponse:  # fmt: skip
    try:
        mpesa = await payments.get_settings(session, principal)
    except NotFound:
        mpesa = None
    return render(
        request, "settings.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request),
        isp_settings=await settings.get_settings(session, principal), mpesa=mpesa,
        can_write=allowed(principal, P.SETTINGS_WRITE), form=form, mpesa_form=mpesa_form or {},
        notice=notice,
    )  # fmt: skip


@router.get("/settings")
async def settings_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _settings(request, isp, principal, session)


async def _save(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    **shown: Any,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _settings(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, **shown
        )

    return await acted(session, action, again, "/admin/settings?flash=settings")


@router.post("/settings")
async def save_settings(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    unused_voucher_days: Field = "", acct_interim_interval: Field = "",
) -> Response:  # fmt: skip
    form = {"unused_voucher_days": unused_voucher_days,
            "acct_interim_interval": acct_interim_interval}  # fmt: skip

    async def save() -> None:
        body = validated(SettingsUpdate, {k: v for k, v in form.items() if v.strip()})
        await settings.update_settings(session, principal, body, meta)

    return await _save(request, isp, principal, session, save, form=form)


@router.post("/settings/mpesa")
async def save_mpesa(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    environment: Field = "", account_type: Field = "", shortcode: Field = "",
    consumer_key: Field = "", consumer_secret: Field = "", passkey: Field = "",
) -> Response:  # fmt: skip
    """Secrets left empty keep their stored values; they are never shown back."""
    shown = {"environment": environment, "account_type": account_type, "shortcode": shortcode}

    async def save() -> None:
        secrets = {"consumer_key": consumer_key, "consumer_secret": consumer_secret,
                   "passkey": passkey}  # fmt: skip
        body = validated(PaymentSettingsIn, shown | {k: v for k, v in secrets.items() if v.strip()})
        await payments.save_settings(session, principal, body, meta)

    return await _save(request, isp, principal, session, save, mpesa_form=shown)


@router.post("/settings/mpesa/test")
async def test_mpesa(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    """Asks Daraja for an access token with the stored credentials; says what it answered."""
    try:
        await payments.test_connection(session, principal, meta)
    except AppError as exc:
        await roll_back(session)
        return await _settings(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    notice = "Daraja accepted the credentials: M-Pesa is ready."
    return await _settings(request, isp, principal, session, notice=notice)
