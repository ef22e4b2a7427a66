"""WhatsApp routes: an ISP's account (owners and admins), and the status callbacks of Meta's
Cloud API (GET handshake, signed POSTs) and of Africa's Talking, each on the ISP's own URL."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import ClientMeta, SessionDep
from api.permissions import P
from api.tenancy import Principal, public, require
from api.whatsapp import service
from api.whatsapp.schemas import WhatsappSettingsIn, WhatsappSettingsOut

router = APIRouter(prefix="/api/v1/whatsapp", tags=["whatsapp"])
hooks_router = APIRouter(
    prefix="/hooks",
    include_in_schema=False,
    dependencies=[
        Depends(public("WhatsApp status callbacks: the ISP's URL token, and Meta's signature"))
    ],
)
Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]
MAX_CALLBACK = 64 * 1024
_VERIFY_TOKEN = re.compile(r"(hub\.verify_token=)[^&\s\"]*")


class RedactVerifyTokens(logging.Filter):
    """Access logs show hub.verify_token=*** (Meta's handshake puts the secret in the query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _VERIFY_TOKEN.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        return True


@router.get("/settings", response_model=WhatsappSettingsOut)
async def get_whatsapp_settings(principal: Reader, session: SessionDep) -> WhatsappSettingsOut:
    return await service.get_settings(session, principal)


@router.put("/settings", response_model=WhatsappSettingsOut)
async def save_whatsapp_settings(
    body: WhatsappSettingsIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> WhatsappSettingsOut:
    return await service.save_settings(session, principal, body, meta)


@router.delete("/settings", response_model=WhatsappSettingsOut)
async def delete_whatsapp_settings(
    principal: Writer, session: SessionDep, meta: ClientMeta
) -> WhatsappSettingsOut:
    return await service.delete_settings(session, principal, meta)


async def _read(request: Request) -> bytes | None:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_CALLBACK:
            return None
    return raw


def _too_big() -> JSONResponse:
    return JSONResponse({"detail": "a status callback is at most 64 KB"}, status_code=413)


@hooks_router.get("/{tenant_ref}/{token}/whatsapp/meta")
async def meta_handshake(request: Request, tenant_ref: str, token: str) -> PlainTextResponse:
    params = dict(request.query_params)
    return PlainTextResponse(await service.meta_verify(tenant_ref, token, params))


@hooks_router.post("/{tenant_ref}/{token}/whatsapp/meta")
async def meta_webhook(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    raw = await _read(request)
    if raw is None:
        return _too_big()
    signature = request.headers.get("x-hub-signature-256")
    return JSONResponse(await service.meta_status(tenant_ref, token, raw, signature))


@hooks_router.post("/{tenant_ref}/{token}/whatsapp/at")
async def at_callback(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    raw = await _read(request)
    if raw is None:
        return _too_big()
    return JSONResponse(await service.at_status(tenant_ref, token, raw))
