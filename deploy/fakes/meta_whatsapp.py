"""Fake Meta WhatsApp Business Cloud API (Graph API) for tests and the local demo stack.

Speaks the Cloud API's wire format over HTTP on loopback and posts signed status webhooks:
``python -m uvicorn deploy.fakes.meta_whatsapp:app --port 18501``

Graph endpoint
  POST /{version}/{phone-number-id}/messages   Authorization: Bearer <token>; JSON
        {"messaging_product": "whatsapp", "to", "type": "template", "template": {"name",
        "language": {"code"}, "components"}}. 200 {"messaging_product": "whatsapp", "contacts":
        [{"input", "wa_id"}], "messages": [{"id": "wamid...", "message_status": "accepted"}]}.
        Errors as Meta's: {"error": {"message", "type", "code", "error_data": {"messaging_product",
        "details"}, "fbtrace_id"}}: a wrong token 401 code 190; an unknown phone number id 400
        code 100; not a template 400 code 131047 (outside the 24-hour window); an unknown
        template 404 code 132001.
Every accepted message gets status webhooks ("sent", then "delivered", or "failed") POSTed
``delay_ms`` (300 ms) later to the number's webhook URL, signed with X-Hub-Signature-256 under
its app secret, as Meta does.

Business numbers (POST /__fake__/numbers registers one; this one by default, also after a
reset): phone number id 100000000000001, token demo-meta-access-token, app secret
demo-meta-app-secret, templates mnetifi_notice and hello_world. Registering a webhook URL with a
verify token makes the GET handshake first (hub.mode=subscribe, hub.verify_token,
hub.challenge) and refuses the URL unless the challenge comes back, as the App Dashboard does.

Magic numbers (any other valid number is accepted, then sent and delivered):
  +254700000011  permanent error: 400 code 131026 "Message undeliverable"
  +254700000012  500 code 131000 "Something went wrong" twice, then accepted (per business
                 number and recipient)
  +254700000013  accepted, no status webhook ever
  +254700000014  accepted, "sent", then "failed" with error 131049 (ecosystem limit)
  +254700000015  always 500 code 131000

Control API (test only, prefix /__fake__)
  GET  /__fake__/messages?to=      what each number received, with the webhooks sent
  POST /__fake__/numbers {"phone_number_id", "access_token", "app_secret", "webhook_url"?,
                          "verify_token"?, "templates"?}
  POST /__fake__/config {"delay_ms"?}
  POST /__fake__/reset   GET /__fake__/health
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from deploy.fakes import callbacks

DEFAULT_NUMBER = {
    "phone_number_id": "100000000000001",
    "access_token": "demo-meta-access-token",
    "app_secret": "demo-meta-app-secret",
    "webhook_url": None,
    "templates": ["mnetifi_notice", "hello_world"],
}
UNDELIVERABLE = "+254700000011"
FLAKY = "+254700000012"
SILENT = "+254700000013"
FAILS_LATER = "+254700000014"
DOWN = "+254700000015"


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.numbers: dict[str, dict[str, Any]] = {
            DEFAULT_NUMBER["phone_number_id"]: dict(DEFAULT_NUMBER)  # type: ignore[dict-item]
        }
        self.delay_ms = 300
        self.messages: list[dict[str, Any]] = []
        self.flaky: dict[str, int] = {}
        self.tasks: set[asyncio.Task[None]] = set()


state = State()
app = FastAPI(title="Fake Meta WhatsApp Cloud API")


def _error(status: int, code: int, message: str, details: str) -> JSONResponse:
    body = {"error": {
        "message": message, "type": "OAuthException" if code == 190 else "MetaApiException",
        "code": code, "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "A" + secrets.token_hex(10),
    }}  # fmt: skip
    return JSONResponse(body, status_code=status)


def _check(number: dict[str, Any] | None, request: Request, body: Any) -> JSONResponse | None:
    if number is None:
        return _error(400, 100, "Unsupported post request.", "Unknown phone number id")
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if not hmac.compare_digest(token.encode(), number["access_token"].encode()):
        return _error(401, 190, "Invalid OAuth access token.", "Error validating access token")
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return _error(400, 100, "Invalid parameter", "messaging_product must be whatsapp")
    if body.get("type") != "template":
        details = "More than 24 hours have passed since the recipient last replied"
        return _error(400, 131047, "Re-engagement message", details)
    name = (body.get("template") or {}).get("name")
    if name not in number["templates"]:
        return _error(404, 132001, "Template name does not exist in the translation",
                      f"template name ({name}) does not exist")  # fmt: skip
    return None


@app.post("/{version}/{phone_number_id}/messages")
async def send(version: str, phone_number_id: str, request: Request) -> Any:
    number = state.numbers.get(phone_number_id)
    try:
        body = await request.json()
    except ValueError:
        body = None
    refused = _check(number, request, body)
    if refused is not None:
        return refused
    assert number is not None
    to = "+" + str(body.get("to", "")).lstrip("+")
    if to == UNDELIVERABLE:
        return _error(400, 131026, "Message undeliverable", "Receiver is incapable of receiving")
    tries = f"{phone_number_id}:{to}"  # counted per business number, so each test has its own
    if to == DOWN or (to == FLAKY and state.flaky.get(tries, 0) < 2):
        state.flaky[tries] = state.flaky.get(tries, 0) + 1
        return _error(500, 131000, "Something went wrong", "Temporary error, try again")
    wamid = "wamid." + secrets.token_hex(24)
    record = {"id": wamid, "to": to, "phone_number_id": phone_number_id, "version": version,
              "template": body.get("template"), "webhooks": []}  # fmt: skip
    state.messages.append(record)
    task = asyncio.create_task(_statuses(number, record))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    return {"messaging_product": "whatsapp",
            "contacts": [{"input": body.get("to"), "wa_id": to.lstrip("+")}],
            "messages": [{"id": wamid, "message_status": "accepted"}]}  # fmt: skip


def _status(number: dict[str, Any], record: dict[str, Any], status: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": record["id"], "status": status, "timestamp": str(int(time.time())),
        "recipient_id": record["to"].lstrip("+"),
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility"},
    }  # fmt: skip
    if status == "failed":
        item["errors"] = [{"code": 131049, "title": "This message was not delivered to maintain "
                           "healthy ecosystem engagement."}]  # fmt: skip
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA-1", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "254700999000",
                         "phone_number_id": number["phone_number_id"]},
            "statuses": [item]}}]}]}  # fmt: skip


async def _statuses(number: dict[str, Any], record: dict[str, Any]) -> None:
    """Posts the message's status webhooks, signed, as Meta does."""
    if record["to"] == SILENT:
        return
    final = "failed" if record["to"] == FAILS_LATER else "delivered"
    for status in ("sent", final):
        await asyncio.sleep(state.delay_ms / 1000)
        raw = json.dumps(_status(number, record, status)).encode()
        sig = "sha256=" + hmac.new(number["app_secret"].encode(), raw, hashlib.sha256).hexdigest()
        entry: dict[str, Any] = {"status": status, "url": number.get("webhook_url")}
        if number.get("webhook_url"):
            try:
                http = callbacks()
                answer = await http.post(
                    number["webhook_url"],
                    content=raw,
                    headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig},
                )
                entry |= {"status_code": answer.status_code, "answer": answer.text[:500]}
            except httpx.HTTPError as exc:
                entry["error"] = type(exc).__name__
        record["webhooks"].append(entry)


# ------------------------------------------------------------------ control API (tests only)


class NumberIn(BaseModel):
    phone_number_id: str
    access_token: str
    app_secret: str
    webhook_url: str | None = None
    verify_token: str | None = None
    templates: list[str] = ["mnetifi_notice", "hello_world"]


@app.post("/__fake__/numbers")
async def add_number(item: NumberIn) -> dict[str, Any]:
    if item.webhook_url and item.verify_token is not None:
        challenge = secrets.token_hex(8)
        params = {"hub.mode": "subscribe", "hub.verify_token": item.verify_token,
                  "hub.challenge": challenge}  # fmt: skip
        http = callbacks()
        answer = await http.get(item.webhook_url, params=params)
        if answer.status_code != 200 or answer.text != challenge:
            raise HTTPException(400, f"the callback URL did not verify: {answer.status_code}")
    state.numbers[item.phone_number_id] = item.model_dump(exclude={"verify_token"})
    return {"phone_number_id": item.phone_number_id, "verified": item.verify_token is not None}


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
