"""Where Daraja posts results: /hooks/{tenant}/{token}/stk, .../c2b/validate, .../c2b/confirm.

Thin routes: the request is stored and judged in events.py (which says what is believed and
why); these answer Daraja with the verdict's status."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.payments import events, wire
from api.tenancy import public

# Daraja signs nothing: each layer (URL token, source address, shape) is checked in the route.
router = APIRouter(
    prefix="/hooks",
    include_in_schema=False,
    dependencies=[Depends(public("Daraja callbacks: the ISP's URL token and address decide"))],
)

_TOKEN_IN_PATH = re.compile(r"(/hooks/[^/\s]+/)[^/\s]+")


class RedactHookTokens(logging.Filter):
    """Access logs show /hooks/<tenant>/***/...: the URL token is a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_PATH.sub(r"\1***", record.msg)
        return True


async def _read(request: Request) -> bytes:
    """The body, cut at the size limit (a bigger one is malformed, and is not read further)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > wire.MAX_BODY:
            break
    return b"".join(chunks)


async def _hook(request: Request, tenant_ref: str, token: str, kind: str) -> JSONResponse:
    raw = await _read(request)
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    event_id, verdict = await events.door(tenant_ref, token, kind, raw, peer, forwarded)
    if verdict == "forged":
        return JSONResponse({"ResultCode": 1, "ResultDesc": "Rejected"}, status_code=403)
    if verdict == "malformed":
        return JSONResponse({"ResultCode": "C2B00016", "ResultDesc": "Rejected"}, status_code=400)
    verdict, answer = await events.judge(event_id)
    return JSONResponse(answer, status_code=400 if verdict == "malformed" else 200)


@router.post("/{tenant_ref}/{token}/stk")
async def stk_result(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    return await _hook(request, tenant_ref, token, "stk")


@router.post("/{tenant_ref}/{token}/c2b/validate")
async def c2b_validation(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    return await _hook(request, tenant_ref, token, "c2b/validate")


@router.post("/{tenant_ref}/{token}/c2b/confirm")
async def c2b_confirmation(request: Request, tenant_ref: str, token: str) -> JSONResponse:
    return await _hook(request, tenant_ref, token, "c2b/confirm")
