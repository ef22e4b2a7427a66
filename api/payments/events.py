"""What becomes of a callback Daraja posts (the routes are in callbacks.py): stored, then judged.

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
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import config, crypto
from api.db import unit_of_work
from api.deps import INT32_MAX
from api.metrics import PAYMENT_EVENTS
from api.models import PaymentSettings
from api.netaddr import client_address, contains, networks, parse_ip
from api.notifications.decisions import decide
from api.payments import c2b, events_repository, repository, settle, streams, wire

log = logging.getLogger(__name__)

ACK = {"ResultCode": 0, "ResultDesc": "Accepted"}
KINDS = {"stk": "stk_callback", "c2b/validate": "c2b_validation", "c2b/confirm": "c2b_confirmation"}


async def door(
    tenant_ref: str, token: str, kind: str, raw: bytes, peer: str | None, forwarded: str | None
) -> tuple[int, str]:
    """Stores the request; returns (event id, verdict so far)."""
    settings = config.get_settings()
    source = client_address(peer, forwarded, settings.trusted_proxies)
    tenant_id = int(tenant_ref) if tenant_ref.isdigit() and int(tenant_ref) <= INT32_MAX else None
    verdict, reason = "received", None
    async with unit_of_work() as session:
        row = await repository.settings_row(session, tenant_id) if tenant_id is not None else None
        if row is None:
            tenant_id, verdict, reason = None, "forged", "no ISP takes payments at this URL"
        else:
            verdict, reason = _check_sender(row, token, source)
        if verdict == "received":
            try:
                wire.load(raw)
            except wire.Malformed as exc:
                verdict, reason = "malformed", str(exc)
        if verdict == "forged" and tenant_id is not None:
            # The ISP's owners and admins hear of it, at most once an hour.
            await decide(
                session, tenant_id, "staff.forged_callback",
                f"staff.forged_callback:{tenant_id}:{int(time.time()) // 3600}", None,
                {"reason": reason, "source": source or "?"},
            )  # fmt: skip
        event_id = await events_repository.insert_event(
            session,
            tenant_id,
            {
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
    return event_id, verdict


def _check_sender(row: PaymentSettings, token: str, source: str | None) -> tuple[str, str | None]:
    """The URL token, then the source address (a note only, in log-only mode)."""
    settings = config.get_settings()
    expected = crypto.decrypt(row.callback_token_enc) if row.callback_token_enc else ""
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        return "forged", "wrong URL token"
    if not contains(networks(settings.callback_allowlist), source):
        if settings.callback_ip_check == "enforce":
            return "forged", f"source {source} is not an allowlisted address"
        return "received", f"source {source} is not allowlisted (log-only mode)"
    return "received", None


async def judge(event_id: int) -> tuple[str, dict[str, Any]]:
    """Decides a stored event (again, for the repair job); returns its verdict and the answer
    Daraja gets. Idempotent: an event already decided keeps its verdict."""
    public_id = None
    async with unit_of_work() as session:
        event = await events_repository.lock_event(session, event_id)
        if event["verdict"] not in ("received", "unknown"):
            return event["verdict"], ACK
        body = event["body"].encode()
        found: dict[str, Any] = {"checkout": None, "receipt": None, "req": None, "pay": None}
        answer: dict[str, Any] = ACK
        try:
            if event["kind"] == "stk_callback":
                verdict, reason, public_id = await _stk(session, event["tenant_id"], body, found)
            else:
                verdict, reason, answer = await _c2b(session, event, body, found)
        except wire.Malformed as exc:
            verdict, reason = "malformed", str(exc)
            answer = {"ResultCode": "C2B00016", "ResultDesc": "Rejected"}
        # A note from the door (e.g. an unlisted source in log-only mode) stays on the record.
        door_note = event["reason"] if event["verdict"] == "received" else None
        reason = "; ".join(r for r in (door_note, reason) if r) or None
        await events_repository.finish_event(session, event_id, verdict, reason, found)
    PAYMENT_EVENTS.labels(event["kind"], verdict).inc()
    if public_id is not None:
        await streams.announce(public_id)
    return verdict, answer


async def _stk(
    session: AsyncSession, tenant_id: int, body: bytes, found: dict[str, Any]
) -> tuple[str, str | None, str | None]:
    callback = wire.stk_callback(body)
    found["checkout"], found["receipt"] = callback.checkout_request_id, callback.receipt
    req = await repository.lock_request(
        session, tenant_id, checkout_id=callback.checkout_request_id
    )
    if req is None:
        return "unknown", "no push of this ISP has this CheckoutRequestID", None
    found["req"] = req["id"]
    await repository.callback_seen(session, tenant_id, req["id"])
    if callback.success:
        outcome = await settle.settle_success(
            session,
            req,
            receipt=callback.receipt,
            amount=callback.amount,
            phone=callback.phone,
            paid_at=callback.paid_at,
            desc=callback.result_desc or "The service request is processed successfully.",
        )
    else:
        outcome = await settle.settle_failure(
            session, req, callback.result_code, callback.result_desc
        )
    found["pay"] = outcome.payment_id
    return outcome.verdict, outcome.reason, str(req["public_id"])


async def _c2b(
    session: AsyncSession, event: Any, body: bytes, found: dict[str, Any]
) -> tuple[str, str | None, dict[str, Any]]:
    tenant_id = event["tenant_id"]
    row = await repository.settings_row(session, tenant_id)
    assert row is not None  # noqa: S101 - checked at the door
    payment = wire.c2b_payment(body)
    found["receipt"] = payment.receipt
    if event["kind"] == "c2b_validation":
        code, desc = await c2b.validate(session, tenant_id, row, payment)
        reason = None if code == "0" else f"{code} {desc}"
        verdict = "ok" if code == "0" else "rejected"
        return verdict, reason, {"ResultCode": code, "ResultDesc": desc}
    outcome = await c2b.confirm(session, tenant_id, row, payment)
    found["pay"] = outcome.payment_id
    return outcome.verdict, outcome.reason, {"ResultCode": 0, "ResultDesc": "Success"}


async def replay_unknown(tenant_id: int, checkout_id: str) -> None:
    """Callbacks that arrived before their push was committed were judged unknown; now that
    the push is stored, judge them again."""
    if not checkout_id:
        return
    async with unit_of_work() as session:
        ids = await events_repository.unknown_events(session, tenant_id, checkout_id)
    for event_id in ids:
        await judge(event_id)
