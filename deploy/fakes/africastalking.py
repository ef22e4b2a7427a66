"""Fake Africa's Talking (bulk SMS) for tests and the local demo stack.

Speaks AT's wire format over HTTP on loopback and posts delivery reports itself:
``python -m uvicorn deploy.fakes.africastalking:app --port 18301``

AT endpoint
  POST /version1/messaging   form-encoded username, to (comma-separated E.164), message, from
                             (optional); headers apiKey and Accept: application/json.
                             201 {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES
                             0.8000", "Recipients": [{"statusCode", "number", "status", "cost",
                             "messageId"}]}}. A wrong apiKey or username: 401, plain text.
                             A missing field: 400, plain text.
Every accepted message gets a delivery report, form-encoded (id, status, phoneNumber,
networkCode, failureReason, retryCount), POSTed ``dlr_delay_ms`` (300 ms) later to
``callback_url`` (env FAKE_AT_CALLBACK_URL, or POST /__fake__/config): the URL an ISP sets on
AT's dashboard, here our API's /hooks/sms/delivery.

Incoming messages: a subscriber texting the ISP. AT posts each SMS sent to a shortcode to the
"Incoming messages" callback of the app that owns it, form-encoded: from, to, text, date, id,
linkId, networkCode. Here a shortcode's callback is set with POST /__fake__/shortcodes (else
the default, env FAKE_AT_INBOUND_URL or POST /__fake__/config {"inbound_url"}), and a test or a
person at a demo plays the subscriber with POST /__fake__/inbound.

Accounts (env FAKE_AT_ACCOUNTS, "username:apikey,..."; these by default, also after a reset):
  mnetifi-platform / demo-platform-api-key     the platform's account (MNETIFI_AT_*)
  demo-isp         / demo-isp-api-key          the dev stack's demo ISP
  sandbox          / demo-sandbox-api-key

Magic numbers (any other valid number is sent and delivered: report "Success"):
  +254700000001  statusCode 403 "InvalidPhoneNumber", not sent, no report
  +254700000002  statusCode 405 "InsufficientBalance", not sent, no report
  +254700000003  sent (101), then report "Failed" with failureReason "AbsentSubscriber"
  +254700000004  the whole request fails: HTTP 500 from the provider
  +254700000005  sent, then the "Success" report delivered twice (a duplicate)
  +254700000006  sent, no delivery report ever
A number that is not E.164 (AT's SDK pattern ^\\+\\d{1,3}\\d{3,}$) gets 403 InvalidPhoneNumber.

Control API (test only, prefix /__fake__)
  GET  /__fake__/messages?to=&username=   what each phone received (newest last): id, username,
                                          to, from, message, status, statusCode, cost, reports
  GET  /__fake__/requests                 every /version1/messaging request: username, form
                                          fields (the apiKey never), status code
  POST /__fake__/config  {"callback_url"?, "dlr_delay_ms"?, "inbound_url"?}
  POST /__fake__/shortcodes {"shortcode", "inbound_url"}   where AT posts SMS sent to it
  POST /__fake__/inbound {"from", "to", "text", "id"?, "repeat"?}
                                          a subscriber texts `to`: the callback is POSTed
                                          `repeat` times (1; more: AT retrying), the same id
                                          each time (given, or a new ATXid_...); answers with
                                          the id, the URL and each delivery's status and body
  GET  /__fake__/inbound                  every incoming message posted, with the answers
  POST /__fake__/accounts {"username", "api_key"}   add or replace an account
  POST /__fake__/reset   forget everything, back to the default accounts and config
  GET  /__fake__/health
"""

from __future__ import annotations

import asyncio
import hmac
import math
import os
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from deploy.fakes import callbacks

PHONE = re.compile(r"^\+\d{1,3}\d{3,}$")
DEFAULT_ACCOUNTS = (
    "mnetifi-platform:demo-platform-api-key,demo-isp:demo-isp-api-key,sandbox:demo-sandbox-api-key"
)
REFUSED = {
    "+254700000001": (403, "InvalidPhoneNumber"),
    "+254700000002": (405, "InsufficientBalance"),
}
PROVIDER_DOWN = "+254700000004"
REPORTS = {
    "+254700000003": [("Failed", "AbsentSubscriber")],
    "+254700000005": [("Success", ""), ("Success", "")],
    "+254700000006": [],
}
PRICE = "0.8000"  # KES per 160-character part


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        text = os.environ.get("FAKE_AT_ACCOUNTS", DEFAULT_ACCOUNTS)
        self.accounts = dict(item.split(":", 1) for item in text.split(",") if ":" in item)
        self.callback_url: str | None = os.environ.get("FAKE_AT_CALLBACK_URL") or None
        self.inbound_url: str | None = os.environ.get("FAKE_AT_INBOUND_URL") or None
        self.shortcodes: dict[str, str] = {}
        self.inbound: list[dict[str, Any]] = []
        self.dlr_delay_ms = 300
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()


state = State()
app = FastAPI(title="Fake Africa's Talking")


def _authorized(username: str, api_key: str) -> bool:
    expected = state.accounts.get(username)
    return expected is not None and hmac.compare_digest(expected.encode(), api_key.encode())


def _recipient(number: str, message: str, fields: dict[str, str]) -> dict[str, Any]:
    if not PHONE.match(number):
        code, status = 403, "InvalidPhoneNumber"
    else:
        code, status = REFUSED.get(number, (101, "Success"))
    parts = max(1, math.ceil(len(message) / 160))
    cost = f"KES {float(PRICE) * parts:.4f}" if code == 101 else "0"
    message_id = "ATXid_" + secrets.token_hex(16) if code == 101 else "None"
    record = {
        "id": message_id, "username": fields["username"], "to": number,
        "from": fields.get("from"), "message": message, "status": status, "statusCode": code,
        "cost": cost, "received_at": datetime.now(UTC).isoformat(), "reports": [],
    }  # fmt: skip
    state.messages.append(record)
    if code == 101:
        task = asyncio.create_task(_report(record))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
    return {"statusCode": code, "number": number, "status": status, "cost": cost,
            "messageId": message_id}  # fmt: skip


async def _report(record: dict[str, Any]) -> None:
    """Posts the message's delivery report(s) to the configured callback, as AT does."""
    await asyncio.sleep(state.dlr_delay_ms / 1000)
    for status, reason in REPORTS.get(record["to"], [("Success", "")]):
        form = {"id": record["id"], "status": status, "phoneNumber": record["to"],
                "networkCode": "63902", "retryCount": "0"}  # fmt: skip
        if reason:
            form["failureReason"] = reason
        entry: dict[str, Any] = {"form": form, "url": state.callback_url}
        if state.callback_url:
            try:
                http = callbacks()
                answer = await http.post(state.callback_url, data=form)
                entry |= {"status_code": answer.status_code, "answer": answer.text[:500]}
            except httpx.HTTPError as exc:
                entry["error"] = type(exc).__name__
        record["reports"].append(entry)


@app.post("/version1/messaging")
async def messaging(request: Request) -> Any:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    log = {"username": fields.get("username"), "form": {k: v for k, v in fields.items()}}
    state.requests.append(log)
    if not _authorized(fields.get("username", ""), request.headers.get("apikey", "")):
        log["status_code"] = 401
        return PlainTextResponse("The supplied authentication is invalid", status_code=401)
    if "application/json" not in request.headers.get("accept", ""):
        log["status_code"] = 406
        return PlainTextResponse("This fake answers JSON only (Accept: application/json)", 406)
    for name in ("to", "message"):
        if not fields.get(name):
            log["status_code"] = 400
            return PlainTextResponse(f"Request is missing required form field '{name}'", 400)
    numbers = [n.strip() for n in fields["to"].split(",") if n.strip()]
    if PROVIDER_DOWN in numbers:
        log["status_code"] = 500
        return PlainTextResponse("Internal Server Error", status_code=500)
    recipients = [_recipient(n, fields["message"], fields) for n in numbers]
    sent = [r for r in recipients if r["statusCode"] == 101]
    total = sum(float(r["cost"].split()[1]) for r in sent)
    summary = f"Sent to {len(sent)}/{len(recipients)} Total Cost: KES {total:.4f}"
    log["status_code"] = 201
    body = {"SMSMessageData": {"Message": summary, "Recipients": recipients}}
    return JSONResponse(body, status_code=201)


# ------------------------------------------------------------------ control API (tests only)


class ConfigIn(BaseModel):
    callback_url: str | None = None
    dlr_delay_ms: int | None = None
    inbound_url: str | None = None


class ShortcodeIn(BaseModel):
    shortcode: str
    inbound_url: str


class InboundIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    sender: str = Field(alias="from")
    to: str
    text: str
    id: str | None = None
    link_id: str | None = Field(None, alias="linkId")
    repeat: int = Field(1, ge=1, le=5)


class AccountIn(BaseModel):
    username: str
    api_key: str


@app.get("/__fake__/messages")
async def messages(to: str | None = None, username: str | None = None) -> list[dict[str, Any]]:
    return [
        m for m in state.messages
        if (to is None or m["to"] == to) and (username is None or m["username"] == username)
    ]  # fmt: skip


@app.get("/__fake__/requests")
async def requests() -> list[dict[str, Any]]:
    return state.requests


@app.post("/__fake__/config")
async def config(item: ConfigIn) -> dict[str, Any]:
    if item.dlr_delay_ms is not None:
        if not 0 <= item.dlr_delay_ms <= 60_000:
            raise HTTPException(422, "dlr_delay_ms is 0 to 60000")
        state.dlr_delay_ms = item.dlr_delay_ms
    if "callback_url" in item.model_fields_set:
        state.callback_url = item.callback_url
    if "inbound_url" in item.model_fields_set:
        state.inbound_url = item.inbound_url
    return {"callback_url": state.callback_url, "dlr_delay_ms": state.dlr_delay_ms,
            "inbound_url": state.inbound_url}  # fmt: skip


@app.post("/__fake__/shortcodes")
async def add_shortcode(item: ShortcodeIn) -> dict[str, str]:
    state.shortcodes[item.shortcode] = item.inbound_url
    return {"shortcode": item.shortcode}


@app.post("/__fake__/inbound")
async def inbound(item: InboundIn) -> dict[str, Any]:
    """A subscriber texts the shortcode `to`: AT's incoming-message callback, as AT posts it."""
    url = state.shortcodes.get(item.to) or state.inbound_url
    if not url:
        raise HTTPException(422, f"no incoming-messages callback for {item.to}")
    form = {
        "from": item.sender, "to": item.to, "text": item.text,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "id": item.id or "ATXid_" + secrets.token_hex(16),
        "linkId": item.link_id or secrets.token_hex(8), "networkCode": "63902",
    }  # fmt: skip
    deliveries = []
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(item.repeat):
            try:
                answer = await http.post(url, data=form)
                deliveries.append({"status_code": answer.status_code, "answer": answer.text[:500]})
            except httpx.HTTPError as exc:
                deliveries.append({"error": type(exc).__name__})
    entry = {"id": form["id"], "url": url, "form": form, "deliveries": deliveries}
    state.inbound.append(entry)
    return entry


@app.get("/__fake__/inbound")
async def inbound_log() -> list[dict[str, Any]]:
    return state.inbound


@app.post("/__fake__/accounts")
async def add_account(item: AccountIn) -> dict[str, str]:
    state.accounts[item.username] = item.api_key
    return {"username": item.username}


@app.post("/__fake__/reset")
async def reset() -> dict[str, bool]:
    state.reset()
    return {"reset": True}


@app.get("/__fake__/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
