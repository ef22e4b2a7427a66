"""Fake Africa's Talking WhatsApp for tests and the local demo stack.

``python -m uvicorn deploy.fakes.at_whatsapp:app --port 18601``

AT endpoint (AT's SDK Whatsapp.py; the answer and the status callback are [unconfirmed], see
api/messaging/at_whatsapp.py)
  POST /whatsapp/message/send   headers apiKey, Accept: application/json; JSON {"username",
        "waNumber", "phoneNumber", "body": {"message"}}. 201 {"status": "Success", "messageId":
        "ATWAid_...", "cost": "KES 0.5000"}. A wrong apiKey or username: 401, plain text; a
        missing field 400 {"errorMessage"}.
Every accepted message gets status callbacks (JSON {"id", "status", "phoneNumber",
"failureReason"?}: "Sent", then "Delivered" or "Failed") POSTed ``delay_ms`` (300 ms) later to the
account's callback URL (POST /__fake__/accounts), the URL an ISP sets on AT's dashboard.

Accounts (username:apikey; these by default, also after a reset): demo-isp / demo-isp-api-key,
mnetifi-platform / demo-platform-api-key.

Magic numbers (any other valid number is sent and delivered):
  +254700000011  400 {"status": "Failed", "errorMessage": "InvalidPhoneNumber"}: refused
  +254700000012  HTTP 500 twice, then accepted (per account and number)
  +254700000013  accepted, no status callback ever
  +254700000014  accepted, "Sent", then "Failed" with failureReason "NotOnWhatsApp"
  +254700000015  always HTTP 500

Control API (test only): GET /__fake__/messages?to=, POST /__fake__/accounts {"username",
"api_key", "callback_url"?}, POST /__fake__/config {"delay_ms"?}, POST /__fake__/reset,
GET /__fake__/health.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from deploy.fakes import callbacks

PHONE = re.compile(r"^\+\d{1,3}\d{3,}$")
DEFAULT_ACCOUNTS = {"demo-isp": "demo-isp-api-key", "mnetifi-platform": "demo-platform-api-key"}
REFUSED = "+254700000011"
FLAKY = "+254700000012"
SILENT = "+254700000013"
FAILS_LATER = "+254700000014"
DOWN = "+254700000015"
PRICE = "KES 0.5000"


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, str] = dict(DEFAULT_ACCOUNTS)
        self.callbacks: dict[str, str] = {}
        self.delay_ms = 300
        self.messages: list[dict[str, Any]] = []
        self.flaky: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()


state = State()
app = FastAPI(title="Fake Africa's Talking WhatsApp")


@app.post("/whatsapp/message/send")
async def send(request: Request) -> Any:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse({"status": "Failed", "errorMessage": "Invalid JSON"}, 400)
    username = str(body.get("username", "")) if isinstance(body, dict) else ""
    expected = state.accounts.get(username)
    key = request.headers.get("apikey", "")
    if expected is None or not hmac.compare_digest(expected.encode(), key.encode()):
        return PlainTextResponse("The supplied authentication is invalid", status_code=401)
    to = str(body.get("phoneNumber", ""))
    text = (body.get("body") or {}).get("message") if isinstance(body.get("body"), dict) else None
    if not PHONE.match(to) or not PHONE.match(str(body.get("waNumber", ""))) or not text:
        return JSONResponse({"status": "Failed", "errorMessage": "Missing or invalid field"}, 400)
    if to == REFUSED:
        return JSONResponse({"status": "Failed", "errorMessage": "InvalidPhoneNumber"}, 400)
    tries = f"{username}:{to}"  # counted per account, so each test has its own
    if to == DOWN or (to == FLAKY and state.flaky.get(tries, 0) < 2):
        state.flaky[tries] = state.flaky.get(tries, 0) + 1
        return PlainTextResponse("Internal Server Error", status_code=500)
    record = {"id": "ATWAid_" + secrets.token_hex(16), "username": username, "to": to,
              "from": body.get("waNumber"), "message": text, "callbacks": []}  # fmt: skip
    state.messages.append(record)
    task = asyncio.create_task(_callbacks(record))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return JSONResponse({"status": "Success", "messageId": record["id"], "cost": PRICE}, 201)


async def _callbacks(record: dict[str, Any]) -> None:
    if record["to"] == SILENT:
        return
    final = ("Failed", "NotOnWhatsApp") if record["to"] == FAILS_LATER else ("Delivered", "")
    for status, reason in (("Sent", ""), final):
        await asyncio.sleep(state.delay_ms / 1000)
        body = {"id": record["id"], "status": status, "phoneNumber": record["to"]}
        if reason:
            body["failureReason"] = reason
        url = state.callbacks.get(record["username"])
        entry: dict[str, Any] = {"status": status, "url": url}
        if url:
            try:
                http = callbacks()
                answer = await http.post(url, json=body)
                entry |= {"status_code": answer.status_code, "answer": answer.text[:500]}
            except httpx.HTTPError as exc:
                entry["error"] = type(exc).__name__
        record["callbacks"].append(entry)


class AccountIn(BaseModel):
    username: str
    api_key: str
    callback_url: str | None = None


@app.post("/__fake__/accounts")
async def add_account(item: AccountIn) -> dict[str, str]:
    state.accounts[item.username] = item.api_key
    if item.callback_url:
        state.callbacks[item.username] = item.callback_url
    return {"username": item.username}


@app.get("/__fake__/messages")
async def messages(to: str | None = None) -> list[dict[str, Any]]:
    return [m for m in state.messages if to is None or m["to"] == to]


class ConfigIn(BaseModel):
    delay_ms: int | None = None


@app.post("/__fake__/config")
async def config(item: ConfigIn) -> dict[str, Any]:
    if item.delay_ms is not None:
        state.delay_ms = max(0, min(item.delay_ms, 60_000))
    return {"delay_ms": state.delay_ms}


@app.post("/__fake__/reset")
async def reset() -> dict[str, bool]:
    state.reset()
    return {"reset": True}


@app.get("/__fake__/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
