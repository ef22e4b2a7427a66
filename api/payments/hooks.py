"""Where Daraja posts results: /hooks/{tenant}/{token}/stk, .../c2b/validate, .../c2b/confirm.

Daraja signs nothing, so a callback is believed only in layers: the ISP's secret URL token
(constant-time compare), the source address (Safaricom's published list, through trusted
proxies), the payload's shape, and correlation with what this ISP actually sent (its own
CheckoutRequestID, the amount it asked for). Every request is stored raw with its verdict
(ok, duplicate, forged, unknown, mismatch, malformed, rejected) before anything is granted,
and is answered as soon as its transaction commits.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import config, crypto
from api.db import unit_of_work
from api.deps import INT32_MAX
from api.metrics import PAYMENT_EVENTS
from api.netaddr import client_address, contains, networks, parse_ip
from api.payments import c2b, stk, wire
from api.payments.service import settings_row

log = logging.getLogger(__name__)
router = APIRouter(prefix="/hooks", include_in_schema=False)

ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}
KINDS = {"stk": "stk_callback", "c2b/validate": "c2b_validation", "c2b/confirm": "c2b_confirmation"}


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


async def _door(
    request: Request, tenant_ref: str, token: str, kind: str
) -> tuple[int, str, int | None, bytes]:
    """Stores the request; returns (event id, verdict so far, tenant id, body)."""
    raw = await _read(request)
    settings = config.get_settings()
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    source = client_address(peer, forwarded, settings.trusted_proxies)
    tenant_id = int(tenant_ref) if tenant_ref.isdigit() and int(tenant_ref) <= INT32_MAX else None
    verdict, reason = "received", None
    async with unit_of_work() as session:
        row = await settings_row(session, tenant_id) if tenant_id is not None else None
        expected = crypto.decrypt(row.callback_token_enc) if row and row.callback_token_enc else ""
        if row is None:
            tenant_id, verdict, reason = None, "forged", "no ISP takes payments at this URL"
        elif not expected or not hmac.compare_digest(expected.encode(), token.encode()):
            verdict, reason = "forged", "wrong URL token"
        elif not contains(networks(settings.callback_allowlist), source):
            if settings.callback_ip_check == "enforce":
                verdict, reason = "forged", f"source {source} is not an allowlisted address"
            else:
                reason = f"source {source} is not allowlisted (log-only mode)"
        if verdict == "received":
            try:
                wire.load(raw)
            except wire.Malformed as exc:
                verdict, reason = "malformed", str(exc)
        event_id = await session.scalar(
            text("""
                INSERT INTO payment_event (tenant_id, kind, source_ip, peer_ip, forwarded_for,
                                           body, verdict, reason, processed_at)
                VALUES (:t, :kind, :source, :peer, :fwd, :body, :verdict, :reason,
                        CASE WHEN :verdict = 'received' THEN NULL ELSE now() END)
                RETURNING id"""),
            {
                "t": tenant_id,
                "kind": KINDS[kind],
                "source": source,
                "peer": parse_ip(peer),
                "fwd": forwarded[:500] if forwarded else None,
                # Stored as it came, but PostgreSQL text cannot hold a NUL byte.
                "body": raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
                "verdict": verdict,
                "reason": reason,
            },
        )
    if verdict != "received":
        PAYMENT_EVENTS.labels(KINDS[kind], verdict).inc()
        log.warning("payment hook %s for tenant %s: %s (%s)", kind, tenant_ref, verdict, reason)
    return event_id, verdict, tenant_id, raw


async def judge(event_id: int) -> tuple[str, dict[str, Any]]:
    """Decides a stored event (again, for the repair job); returns its verdict and the answer
    Daraja gets. Idempotent: an event already decided keeps its verdict."""
    public_id = None
    async with unit_of_work() as session:
        result = await session.execute(
            text("SELECT * FROM payment_event WHERE id = :id FOR UPDATE"), {"id": event_id}
        )
        event = result.mappings().one()
        if event["verdict"] not in ("received", "unknown"):
            return event["verdict"], ACK
        body = event["body"].encode()
        tenant_id = event["tenant_id"]
        update: dict[str, Any] = {"checkout": None, "receipt": None, "req": None, "pay": None}
        answer: dict[str, Any] = ACK
        try:
            if event["kind"] == "stk_callback":
                verdict, reason, public_id = await _stk(session, tenant_id, body, update)
            else:
                row = await settings_row(session, tenant_id)
                assert row is not None  # noqa: S101 - checked at the door
                payment = wire.c2b_payment(body)
                update["receipt"] = payment.receipt
                if event["kind"] == "c2b_validation":
                    code, desc = await c2b.validate(session, tenant_id, row, payment)
                    verdict = "ok" if code == "0" else "rejected"
                    reason = None if code == "0" else f"{code} {desc}"
                    answer = {"ResultCode": code, "ResultDesc": desc}
                else:
                    outcome = await c2b.confirm(session, tenant_id, row, payment)
                    verdict, reason = outcome.verdict, outcome.reason
                    update["pay"] = outcome.payment_id
                    answer = {"ResultCode": 0, "ResultDesc": "Success"}
        except wire.Malformed as exc:
            verdict, reason = "malformed", str(exc)
            answer = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
        # A note from the door (e.g. an unlisted source in log-only mode) stays on the record.
        door_note = event["reason"] if event["verdict"] == "received" else None
        reason = "; ".join(r for r in (door_note, reason) if r) or None
        await session.execute(
            text("""
                UPDATE payment_event
                   SET verdict = :verdict, reason = :reason, processed_at = now(),
                       checkout_request_id = COALESCE(:checkout, checkout_request_id),
                       receipt = COALESCE(:receipt, receipt),
                       stk_request_id = COALESCE(:req, stk_request_id),
                       payment_id = COALESCE(:pay, payment_id)
                 WHERE id = :id"""),
            {"id": event_id, "verdict": verdict, "reason": reason, **update},
        )
    PAYMENT_EVENTS.labels(event["kind"], verdict).inc()
    if public_id is not None:
        await stk.announce(public_id)
    return verdict, answer


async def _stk(
    session: Any, tenant_id: int, body: bytes, update: dict[str, Any]
) -> tuple[str, str | None, str | None]:
    callback = wire.stk_callback(body)
    update["checkout"], update["receipt"] = callback.checkout_request_id, callback.receipt
    req = await stk.lock_request(session, tenant_id, checkout_id=callback.checkout_request_id)
    if req is None:
        return "unknown", "no push of this ISP has this CheckoutRequestID", None
    update["req"] = req["id"]
    await session.execute(
        text("UPDATE stk_request SET callback_at = COALESCE(callback_at, now()) WHERE id = :id"),
        {"id": req["id"]},
    )
    if callback.success:
        outcome = await stk.settle_success(
            session,
            req,
            receipt=callback.receipt,
            amount=callback.amount,
            phone=callback.phone,
            paid_at=callback.paid_at,
            desc=callback.result_desc or "The service request is processed successfully.",
        )
    else:
        outcome = await stk.settle_failure(session, req, callback.result_code, callback.result_desc)
    update["pay"] = outcome.payment_id
    return outcome.verdict, outcome.reason, str(req["public_id"])


async def replay_unknown(tenant_id: int, checkout_id: str) -> None:
    """Callbacks that arrived before their push was committed were judged unknown; now that
    the push is stored, judge them again."""
    if not checkout_id:
        return
    async with unit_of_work() as session:
        ids = (
            await session.scalars(
                text("""SELECT id FROM payment_event
                         WHERE verdict = 'unknown' AND checkout_request_id = :c
                           AND tenant_id = :t ORDER BY id"""),
                {"c": checkout_id, "t": tenant_id},
            )
        ).all()
    for event_id in ids:
        await judge(event_id)


async def _hook(request: Request, tenant_ref: str, token: str, kind: str) -> JSONResponse:
    event_id, verdict, _, _ = await _door(request, tenant_ref, token, kind)
    if verdict == "forged":
        return JSONResponse({"ResultCode": 1, "ResultDesc": "Rejected"}, status_code=403)
    if verdict == "malformed":
        return JSONResponse({"ResultCode": "C2B00016", "ResultDesc": "Rejected"}, status_code=400)
    verdict, answer = await judge(event_id)
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
