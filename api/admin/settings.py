"""The settings page: how long an unused voucher lives and how often routers report usage; the
M-Pesa account (secrets are write-only: a field left empty keeps what is stored) and testing it
against Daraja. Its SMS page: the ISP's Africa's Talking account (the API key write-only too),
a test message to a number the person types, and the last messages with what became of them.
Every change goes through the services the JSON API uses, which audit it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.db import roll_back
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, BadRequest, NotFound
from api.models import Tenant
from api.payments import service as payments
from api.payments.schemas import PaymentSettingsIn
from api.permissions import P
from api.settings import service as settings
from api.settings.schemas import SettingsUpdate
from api.sms import service as sms
from api.sms.schemas import SmsSettingsIn, SmsTestIn
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


# ------------------------------------------------------------------ SMS (Africa's Talking)

RECENT_SMS = 10
SMS_SAYS = {
    "username": "The username is your Africa's Talking app's username: letters, digits, _ . or -.",
    "sender_id": "The sender id is up to 11 letters, digits or spaces, as registered with Africa's "
    "Talking; leave it empty for their default.",
    "api_key": "The API key is at most 512 characters.",
    "shortcode": "The shortcode is 3 to 15 digits (a number may start with +).",
    "to": "Type the phone number with its country code, like +254712345678.",
}


async def _sms(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    to: str = "", notice: str | None = None,
) -> HTMLResponse:  # fmt: skip
    messages = await sms.recent(session, principal, RECENT_SMS)
    return render(
        request, "settings_sms.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), account=await sms.get_settings(session, principal),
        messages=messages, masked=sms.masked, can_write=allowed(principal, P.SETTINGS_WRITE),
        form=form, to=to, notice=notice,
    )  # fmt: skip


@router.get("/settings/sms")
async def sms_page(request: Request, isp: Isp, principal: Reader, session: SessionDep) -> Response:
    return await _sms(request, isp, principal, session)


async def _sms_change(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    **shown: Any,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _sms(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, **shown
        )

    return await acted(session, action, again, "/admin/settings/sms?flash=sms")


@router.post("/settings/sms")
async def save_sms(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    username: Field = "", sender_id: Field = "", shortcode: Field = "",
    api_key: Annotated[str, Form(max_length=512)] = "",
) -> Response:  # fmt: skip
    """The API key left empty keeps the stored one; it is never shown back. An empty sender id:
    Africa's Talking's default."""
    shown = {"username": username, "sender_id": sender_id, "shortcode": shortcode}

    async def save() -> None:
        values = {"username": username.strip(), "sender_id": sender_id.strip() or None,
                  "shortcode": shortcode.replace(" ", "") or None}  # fmt: skip
        if api_key.strip():
            values["api_key"] = api_key.strip()
        body = validated(SmsSettingsIn, values, SMS_SAYS)
        if body.api_key is None and not (await sms.get_settings(session, principal)).has_api_key:
            raise BadRequest("Paste the API key from your Africa's Talking dashboard: the first "
                             "save needs it.")  # fmt: skip
        await sms.save_settings(session, principal, body, meta)

    return await _sms_change(request, isp, principal, session, save, form=shown)


@router.post("/settings/sms/remove")
async def remove_sms(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    """Back to the platform's account."""

    async def remove() -> None:
        await sms.delete_settings(session, principal, meta)

    return await _sms_change(request, isp, principal, session, remove)


@router.post("/settings/sms/test")
async def test_sms(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    to: Field = "",
) -> Response:  # fmt: skip
    """A test message on the account the ISP's messages use now; says what Africa's Talking
    answered. The attempt is audited whatever the answer (the service commits it first)."""
    typed = to.strip().replace(" ", "")
    try:
        body = validated(SmsTestIn, {"to": typed}, SMS_SAYS)
        sent = await sms.send_test(session, principal, body.to, meta)
    except AppError as exc:
        await roll_back(session)
        return await _sms(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, to=to
        )
    notice = f"Africa's Talking took the test message for {sent.recipient}: {sent.provider_status}."
    return await _sms(request, isp, principal, session, notice=notice)
