"""SMS routes: an ISP's Africa's Talking account (owners and admins), its recent messages, and
the delivery-report hook Africa's Talking posts to.

The hook is unauthenticated (Africa's Talking signs nothing), so it believes a report only for a
message id it gave us and the number we sent to, moves a status only forward, acknowledges
reports it ignores (AT would otherwise retry them), and answers bad input with 400, never 500.
Africa's Talking publishes no source addresses; MNETIFI_SMS_CALLBACK_ALLOWLIST can still limit
the hook to known ones (empty by default)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.config import get_settings
from api.deps import ClientMeta, SessionDep, client_ip
from api.netaddr import contains, networks
from api.permissions import P
from api.sms import inbound, service
from api.sms.schemas import SmsOut, SmsSettingsIn, SmsSettingsOut, SmsTestIn
from api.tenancy import Principal, public, require

router = APIRouter(prefix="/api/v1/sms", tags=["sms"])
hooks_router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]
MAX_REPORT = 8192  # a handful of short fields; an incoming text is up to 1,600 characters


@router.get("/settings", response_model=SmsSettingsOut)
async def get_sms_settings(principal: Reader, session: SessionDep) -> SmsSettingsOut:
    return await service.get_settings(session, principal)


@router.put("/settings", response_model=SmsSettingsOut)
async def save_sms_settings(
    body: SmsSettingsIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> SmsSettingsOut:
    return await service.save_settings(session, principal, body, meta)


@router.delete("/settings", response_model=SmsSettingsOut)
async def delete_sms_settings(
    principal: Writer, session: SessionDep, meta: ClientMeta
) -> SmsSettingsOut:
    return await service.delete_settings(session, principal, meta)


@router.post("/settings/test", response_model=SmsOut)
async def send_test_sms(
    body: SmsTestIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> SmsOut:
    return await service.send_test(session, principal, body.to, meta)


@router.get("/messages", response_model=list[SmsOut])
async def recent_messages(
    principal: Reader, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[SmsOut]:
    return await service.recent(session, principal, limit)


def _refused(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


@hooks_router.post(
    service.REPORT_PATH,
    dependencies=[
        Depends(public("Africa's Talking delivery reports (checked by message id and number)"))
    ],
)
async def delivery_report(request: Request) -> JSONResponse:
    allow = get_settings().sms_callback_allowlist
    if allow and not contains(networks(allow), client_ip(request)):
        return _refused(403, "delivery reports are not accepted from this address")
    fields = await _form(request)
    if isinstance(fields, JSONResponse):
        return fields
    moved = await service.apply_report(fields)
    return JSONResponse({"status": "applied" if moved else "ignored"})


async def _form(request: Request) -> dict[str, str] | JSONResponse:
    """A small form-encoded (UTF-8) body as a dict, or the response refusing it."""
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_REPORT:
            return _refused(413, "a callback is a few short form fields")
    try:
        text = raw.decode("utf-8")
        fields = dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text)))
    except (UnicodeDecodeError, ValueError):
        return _refused(400, "a callback is a form-encoded (UTF-8) body")
    if any("\x00" in name + value for name, value in fields.items()):
        return _refused(400, "a callback holds no NUL characters")
    return fields


@hooks_router.post(
    "/hooks/{tenant_ref}/{token}/sms/inbound",
    dependencies=[Depends(public("Africa's Talking incoming messages (the ISP's URL token)"))],
)
async def incoming_message(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    """A customer's SMS to the ISP's number: recorded once; STOP (or ACHA) opts them out of
    offers. A URL whose token is not the ISP's: 404, nothing recorded."""
    allow = get_settings().sms_callback_allowlist
    if allow and not contains(networks(allow), client_ip(request)):
        return _refused(403, "incoming messages are not accepted from this address")
    fields = await _form(request)
    if isinstance(fields, JSONResponse):
        return fields
    return JSONResponse(await inbound.receive(tenant_ref, token, fields))
