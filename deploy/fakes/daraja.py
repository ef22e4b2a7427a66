"""Fake Daraja (Safaricom M-Pesa API) for tests and the local demo stack.

Speaks Daraja's wire format over HTTP on loopback and delivers callbacks itself, with httpx, in
background tasks:  ``python -m uvicorn deploy.fakes.daraja:app --port 18201``

Daraja endpoints
  GET  /oauth/v1/generate?grant_type=client_credentials   Basic consumer key:secret -> token
  POST /mpesa/stkpush/v1/processrequest                    STK push (Bearer)
  POST /mpesa/stkpushquery/v1/query                        STK query (Bearer)
  POST /mpesa/c2b/v2/registerurl  (also /v1/)              register validation/confirmation URLs
  POST /mpesa/c2b/v1/simulate     (also /v2/)              customer pays: validation, confirmation

Seeded app (also after a reset): consumer key ``demo-consumer-key``, secret
``demo-consumer-secret``; paybill 174379 with the public sandbox passkey; store (head office)
5000001 with passkey ``demo-store-passkey`` and till 6000001.

Paybill vs till: a paybill push needs CustomerPayBillOnline and PartyB = the paybill; a store push
needs CustomerBuyGoodsOnline and PartyB = one of its tills. Daraja accepts a mismatch and fails it
in the callback with ResultCode "SFC_IC0003" (a string), and so does the fake.

STK scenarios, chosen by magic phone number or by ``POST /__fake__/scenario``; any other phone
succeeds. Every outcome except no_callback is POSTed to CallBackURL after ``callback_delay_ms``
(50 ms by default):
  254700000001 user_cancel          ResultCode 1032
  254700000002 timeout              ResultCode 1037
  254700000003 wrong_pin            ResultCode 2001
  254700000004 insufficient_funds   ResultCode 1
  254700000005 misconfigured_till   ResultCode "SFC_IC0003"
  254700000006 duplicate_sequential success callback delivered 3 times, one after the other
  254700000007 duplicate_concurrent success callback delivered 3 times at once
  254700000008 late_callback        success; the query says so at once, the callback comes
                                    ``late_callback_delay_ms`` (3 s) later
  254700000009 no_callback          success visible only through the STK query
  254700000010 query_contradicts    success callback; the query then says 1032 (a sandbox lie)
Scenario params (``params`` in the control API): delay_ms, late_delay_ms, count.

Control API (test only)
  POST /__fake__/scenario  {"phone", "scenario", "params"?, "once"?}  script a phone
  POST /__fake__/config    {field: value}   see Config (delays, token TTL, ...); returns it
  POST /__fake__/apps      {"consumer_key", "consumer_secret", "shortcodes": [{"shortcode",
                           "type": "paybill"|"store", "passkey", "tills"?}]}   add or replace an app
  GET  /__fake__/requests      every Daraja request received: app (consumer key), method,
                               path, body, status_code and the fake's answer
  GET  /__fake__/callbacks     every delivery: kind, url, body, our status code and answer
  GET  /__fake__/transactions  STK transactions and their state
  POST /__fake__/reset         forget everything, back to the seeded app and default config
  GET  /__fake__/health
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from deploy.fakes.daraja_control import router as control_router
from deploy.fakes.daraja_state import (
    EAT,
    RESULTS,
    App,
    Shortcode,
    StkTransaction,
    eat_now,
    mask_msisdn,
    state,
)

PHONE = re.compile(r"^254(7|1)\d{8}$")
SHORTCODE = re.compile(r"^\d{5,7}$")
C2B_BANNED = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")


class DarajaError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


def bad(field: str) -> DarajaError:
    return DarajaError(400, "400.002.02", f"Bad Request - Invalid {field}")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    async with httpx.AsyncClient() as client:
        state.http = client
        yield
        state.reset()  # cancels pending deliveries


app = FastAPI(title="fake Daraja", lifespan=lifespan, docs_url="/__fake__/docs")


@app.middleware("http")
async def log_requests(request: Request, call_next: Any) -> Any:
    if request.url.path.startswith("/__fake__"):
        return await call_next(request)
    raw = await request.body()
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    entry: dict[str, Any] = {
        "app": None,  # the consumer key: Basic user name, or the Bearer token's app
        "method": request.method,
        "path": request.url.path,
        "query": str(request.url.query),
        "headers": {k: v for k, v in request.headers.items() if k in ("content-type",)},
        "body": body,
    }
    state.requests.append(entry)
    request.state.log = entry
    response = await call_next(request)
    entry["status_code"] = response.status_code
    return response


def reply(request: Request, status: int, payload: dict[str, Any]) -> JSONResponse:
    log = getattr(request.state, "log", None)
    if log is not None:
        log["response"] = payload
    return JSONResponse(payload, status_code=status)


def note(request: Request, **values: Any) -> None:
    """Add to the request's entry in /__fake__/requests (e.g. which app called)."""
    log = getattr(request.state, "log", None)
    if log is not None:
        log.update(values)


@app.exception_handler(DarajaError)
async def daraja_error(request: Request, exc: DarajaError) -> JSONResponse:
    payload = {"requestId": state.request_id(), "errorCode": exc.code, "errorMessage": exc.message}
    return reply(request, exc.status, payload)


@app.exception_handler(StarletteHTTPException)
async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if request.url.path.startswith("/__fake__"):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
    if exc.status_code == 405:
        return await daraja_error(request, DarajaError(405, "405.001", "Method Not Allowed"))
    return await daraja_error(request, DarajaError(404, "404.001.01", "Resource not found"))


# ---------------------------------------------------------------- helpers
def bearer_app(request: Request) -> App:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    found = state.app_for_token(token.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise DarajaError(404, "404.001.03", "Invalid Access Token")
    note(request, app=found.consumer_key)
    return found


async def json_body(request: Request, first_field: str) -> dict[str, Any]:
    # Daraja answers a body it cannot read as JSON with "Invalid <first field>".
    if "application/json" not in request.headers.get("content-type", ""):
        raise bad(first_field)
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise bad(first_field) from None
    if not isinstance(body, dict):
        raise bad(first_field)
    return body


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad(name)
    return str(value).strip()


def whole_amount(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 250_000:
        raise bad(name)
    return value


def phone(body: dict[str, Any], name: str) -> str:
    value = text(body, name)
    if not PHONE.match(value):
        raise bad(name)
    return value


def url(body: dict[str, Any], name: str) -> str:
    value = text(body, name)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad(name)
    return value


def check_password(app_: App, body: dict[str, Any]) -> Shortcode:
    """BusinessShortCode, Timestamp and Password, in Daraja's order of checks."""
    code = text(body, "BusinessShortCode")
    if not SHORTCODE.match(code):
        raise bad("BusinessShortCode")
    stamp = text(body, "Timestamp")
    try:
        when = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=EAT)
    except ValueError:
        raise bad("Timestamp") from None
    skew = state.config.timestamp_skew_seconds
    if skew is not None and abs((eat_now() - when).total_seconds()) > skew:
        raise bad("Timestamp")
    password = text(body, "Password")
    shortcode = app_.shortcodes.get(code)
    if shortcode is None:
        raise DarajaError(500, "500.001.1001", "Merchant does not exist")
    expected = base64.b64encode(f"{code}{shortcode.passkey}{stamp}".encode()).decode()
    if not hmac.compare_digest(password.encode(), expected.encode()):
        raise DarajaError(500, "500.001.1001", "Wrong credentials")
    return shortcode


def till_mismatch(shortcode: Shortcode, kind: str, party_b: str) -> bool:
    if shortcode.type == "store":
        return kind != "CustomerBuyGoodsOnline" or party_b not in shortcode.tills
    return kind != "CustomerPayBillOnline" or party_b != shortcode.shortcode


# ---------------------------------------------------------------- OAuth
@app.get("/oauth/v1/generate")
async def generate_token(request: Request, grant_type: str = "") -> JSONResponse:
    if grant_type != "client_credentials":
        raise DarajaError(400, "400.008.02", "Invalid grant type passed")
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise DarajaError(400, "400.008.01", "Invalid authentication type passed")
    try:
        key, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        key, secret = "", ""
    note(request, app=key)
    found = state.apps.get(key)
    if found is None or not hmac.compare_digest(found.consumer_secret, secret):
        raise DarajaError(400, "400.008.01", "Invalid Authentication passed")
    ttl = state.config.token_ttl_seconds
    payload = {
        "access_token": state.issue_token(key),
        "expires_in": str(ttl) if state.config.expires_in_as_string else ttl,
    }
    return reply(request, 200, payload)


# ---------------------------------------------------------------- STK push and query
@app.post("/mpesa/stkpush/v1/processrequest")
async def stk_push(request: Request) -> JSONResponse:
    app_ = bearer_app(request)
    body = await json_body(request, "BusinessShortCode")
    kind = text(body, "TransactionType")
    if kind not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        raise bad("TransactionType")
    amount = whole_amount(body, "Amount")
    phone(body, "PartyA")
    party_b = text(body, "PartyB")
    if not SHORTCODE.match(party_b):
        raise bad("PartyB")
    msisdn = phone(body, "PhoneNumber")
    callback_url = url(body, "CallBackURL")
    if not 1 <= len(text(body, "AccountReference")) <= 12:
        raise bad("AccountReference")
    if len(str(body.get("TransactionDesc") or "")) > 13:
        raise bad("TransactionDesc")
    shortcode = check_password(app_, body)
    scenario, params = state.take_scenario(msisdn)
    if till_mismatch(shortcode, kind, party_b):
        scenario = "misconfigured_till"
    tx = StkTransaction(
        merchant_request_id=state.merchant_request_id(),
        checkout_request_id=state.checkout_request_id(),
        app_key=app_.consumer_key,
        shortcode=shortcode.shortcode,
        phone=msisdn,
        amount=amount,
        callback_url=callback_url,
        scenario=scenario,
    )
    state.transactions[tx.checkout_request_id] = tx
    state.spawn(state.run_stk(tx, params))
    accepted = "Success. Request accepted for processing"
    payload = {
        "MerchantRequestID": tx.merchant_request_id,
        "CheckoutRequestID": tx.checkout_request_id,
        "ResponseCode": "0",
        "ResponseDescription": accepted,
        "CustomerMessage": accepted,
    }
    return reply(request, 200, payload)


@app.post("/mpesa/stkpushquery/v1/query")
async def stk_query(request: Request) -> JSONResponse:
    app_ = bearer_app(request)
    body = await json_body(request, "BusinessShortCode")
    shortcode = check_password(app_, body)
    tx = state.transactions.get(text(body, "CheckoutRequestID"))
    if tx is None or tx.app_key != app_.consumer_key or tx.shortcode != shortcode.shortcode:
        raise bad("CheckoutRequestID")
    if tx.result is None:
        raise DarajaError(500, "500.001.1001", "The transaction is being processed")
    code, desc = tx.result
    if tx.scenario == "query_contradicts":
        code, desc = RESULTS["user_cancel"]
    payload = {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successfully",
        "MerchantRequestID": tx.merchant_request_id,
        "CheckoutRequestID": tx.checkout_request_id,
        "ResultCode": str(code),
        "ResultDesc": desc,
    }
    return reply(request, 200, payload)


# ---------------------------------------------------------------- C2B
def c2b_url(body: dict[str, Any], name: str) -> str:
    value = url(body, name)
    if any(word in value.lower() for word in C2B_BANNED):
        raise DarajaError(400, "400.002.05", "Invalid Request Payload")
    return value


@app.post("/mpesa/c2b/v2/registerurl")
@app.post("/mpesa/c2b/v1/registerurl")
async def c2b_register(request: Request) -> JSONResponse:
    bearer_app(request)
    body = await json_body(request, "ShortCode")
    shortcode = text(body, "ShortCode")
    if not SHORTCODE.match(shortcode):
        raise bad("ShortCode")
    response_type = text(body, "ResponseType")
    if response_type not in ("Completed", "Cancelled"):
        raise bad("ResponseType")
    urls = {"ResponseType": response_type, "ConfirmationURL": c2b_url(body, "ConfirmationURL")}
    if body.get("ValidationURL"):
        urls["ValidationURL"] = c2b_url(body, "ValidationURL")
    state.c2b_urls[shortcode] = urls  # sandbox behaviour: re-registering overwrites
    payload = {
        "OriginatorCoversationID": state.request_id(),
        "ResponseCode": "0",
        "ResponseDescription": "Success",
    }
    return reply(request, 200, payload)


@app.post("/mpesa/c2b/v1/simulate")
@app.post("/mpesa/c2b/v2/simulate")
async def c2b_simulate(request: Request) -> JSONResponse:
    bearer_app(request)
    body = await json_body(request, "ShortCode")
    shortcode = text(body, "ShortCode")
    if not SHORTCODE.match(shortcode):
        raise bad("ShortCode")
    command = text(body, "CommandID")
    if command not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        raise bad("CommandID")
    amount = whole_amount(body, "Amount")
    msisdn = phone(body, "Msisdn")
    paybill = command == "CustomerPayBillOnline"
    bill_ref = str(body.get("BillRefNumber") or "") if paybill else ""
    if len(bill_ref) > 20:
        raise bad("BillRefNumber")
    payment = {
        "TransactionType": "Pay Bill" if paybill else "Buy Goods",
        "TransID": state.receipt(),
        "TransTime": eat_now().strftime("%Y%m%d%H%M%S"),
        "TransAmount": f"{amount:.2f}",
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": mask_msisdn(msisdn),
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "",
    }
    state.spawn(state.run_c2b(payment, state.c2b_urls.get(shortcode)))
    payload = {
        "OriginatorCoversationID": state.request_id(),
        "ResponseCode": "0",
        "ResponseDescription": "Accept the service request successfully.",
    }
    return reply(request, 200, payload)


app.include_router(control_router)
