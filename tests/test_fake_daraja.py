"""The fake Daraja (deploy/fakes/daraja.py), over HTTP as the stack runs it
(MNETIFI_DARAJA_URL). Callbacks go to a small receiver served by uvicorn inside the test."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn

from deploy.fakes.daraja_state import (
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_STORE,
    DEMO_STORE_PASSKEY,
    DEMO_TILL,
    EAT,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
)

PHONE = "254708374149"


class Receiver:
    """A loopback HTTP server recording every POST; paths under /hold/ answer after 0.3 s."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.in_flight = 0
        self.max_in_flight: dict[str, int] = {}
        self.url = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.in_flight += 1
        self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight)
        self.hits.append({"path": path, "body": json.loads(body), "at": time.monotonic()})
        if path.startswith("/hold/"):
            await asyncio.sleep(0.3)
        self.in_flight -= 1
        status, answer = self.answers.get(path, (200, b'{"ResultCode": 0, "ResultDesc": "OK"}'))
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    def at(self, path: str) -> list[dict[str, Any]]:
        return [hit for hit in self.hits if hit["path"] == path]

    async def wait(self, path: str, count: int = 1, within: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while len(self.at(path)) < count:
            assert time.monotonic() < deadline, f"{count} POSTs to {path} expected: {self.hits}"
            await asyncio.sleep(0.02)
        return self.at(path)


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    recv.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(recv, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield recv
    server.should_exit = True
    await task


@pytest.fixture
async def fake(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=os.environ["MNETIFI_DARAJA_URL"]) as client:
        (await client.post("/__fake__/reset")).raise_for_status()
        receiver.hits.clear()
        receiver.answers.clear()
        receiver.max_in_flight.clear()
        yield client


async def token(fake: httpx.AsyncClient) -> str:
    resp = await fake.get(
        "/oauth/v1/generate",
        params={"grant_type": "client_credentials"},
        auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET),
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def password(shortcode: str, passkey: str) -> tuple[str, str]:
    stamp = datetime.now(EAT).strftime("%Y%m%d%H%M%S")
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode(), stamp


def push_body(callback_url: str, **changes: Any) -> dict[str, Any]:
    pw, stamp = password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY)
    body = {
        "BusinessShortCode": 174379,
        "Password": pw,
        "Timestamp": stamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "10",
        "PartyA": PHONE,
        "PartyB": "174379",
        "PhoneNumber": PHONE,
        "CallBackURL": callback_url,
        "AccountReference": "HOTSPOT1",
        "TransactionDesc": "1 Hour",
    }
    body.update(changes)
    return body


async def push(fake: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {await token(fake)}"}
    return await fake.post("/mpesa/stkpush/v1/processrequest", json=body, headers=headers)


async def push_ok(fake: httpx.AsyncClient, body: dict[str, Any]) -> str:
    resp = await push(fake, body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["ResponseCode"] == "0"
    assert out["ResponseDescription"] == out["CustomerMessage"]
    assert re.fullmatch(r"\d{5}-\d{8}-1", out["MerchantRequestID"])
    assert re.fullmatch(r"ws_CO_\d{20,}", out["CheckoutRequestID"])
    return out["CheckoutRequestID"]


async def query(fake: httpx.AsyncClient, checkout_id: str) -> httpx.Response:
    pw, stamp = password(SANDBOX_SHORTCODE, SANDBOX_PASSKEY)
    body = {
        "BusinessShortCode": "174379",
        "Password": pw,
        "Timestamp": stamp,
        "CheckoutRequestID": checkout_id,
    }
    headers = {"Authorization": f"Bearer {await token(fake)}"}
    return await fake.post("/mpesa/stkpushquery/v1/query", json=body, headers=headers)


async def finished_deliveries(fake: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The fake's delivery log once `count` deliveries have their answer (or error) recorded."""
    for _ in range(250):
        done = [d for d in (await fake.get("/__fake__/callbacks")).json() if "finished_at" in d]
        if len(done) >= count:
            return done
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} finished deliveries expected")


def stk(hit: dict[str, Any]) -> dict[str, Any]:
    return hit["body"]["Body"]["stkCallback"]


# ---------------------------------------------------------------- OAuth
async def test_token_is_issued_to_a_known_app(fake: httpx.AsyncClient) -> None:
    resp = await fake.get(
        "/oauth/v1/generate?grant_type=client_credentials",
        auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET),
    )
    assert resp.status_code == 200
    assert resp.json()["expires_in"] == "3599"
    assert len(resp.json()["access_token"]) >= 20


@pytest.mark.parametrize(
    ("query_string", "auth", "code"),
    [
        ("grant_type=client_credentials", (DEMO_CONSUMER_KEY, "wrong"), "400.008.01"),
        ("grant_type=client_credentials", ("nobody", "x"), "400.008.01"),
        ("grant_type=password", (DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET), "400.008.02"),
    ],
)
async def test_token_refused(
    fake: httpx.AsyncClient, query_string: str, auth: tuple[str, str], code: str
) -> None:
    resp = await fake.get(f"/oauth/v1/generate?{query_string}", auth=auth)
    assert resp.status_code == 400
    assert resp.json()["errorCode"] == code
    assert set(resp.json()) == {"requestId", "errorCode", "errorMessage"}


async def test_missing_or_expired_token_is_refused(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    url = "/mpesa/stkpush/v1/processrequest"
    resp = await fake.post(url, json=push_body(receiver.url + "/stk"))
    assert resp.status_code == 404
    assert resp.json()["errorCode"] == "404.001.03"
    await fake.post("/__fake__/config", json={"token_ttl_seconds": 0})
    resp = await push(fake, push_body(receiver.url + "/stk"))
    assert (resp.status_code, resp.json()["errorMessage"]) == (404, "Invalid Access Token")


# ---------------------------------------------------------------- STK push validation
@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"Password": base64.b64encode(b"174379nope20240101000000").decode()}, 500,
         "Wrong credentials"),
        ({"BusinessShortCode": "999999"}, 500, "Merchant does not exist"),
        ({"PhoneNumber": "0708374149"}, 400, "Bad Request - Invalid PhoneNumber"),
        ({"PhoneNumber": "25470837414"}, 400, "Bad Request - Invalid PhoneNumber"),
        ({"PartyA": "254608374149"}, 400, "Bad Request - Invalid PartyA"),
        ({"AccountReference": "ABCDEFGHIJKLM"}, 400, "Bad Request - Invalid AccountReference"),
        ({"TransactionDesc": "fourteen chars"}, 400, "Bad Request - Invalid TransactionDesc"),
        ({"Amount": 1.5}, 400, "Bad Request - Invalid Amount"),
        ({"Amount": 0}, 400, "Bad Request - Invalid Amount"),
        ({"Timestamp": "2024-01-01 10:00"}, 400, "Bad Request - Invalid Timestamp"),
        ({"TransactionType": "CustomerPayBill"}, 400, "Bad Request - Invalid TransactionType"),
        ({"CallBackURL": "ftp://example.com/cb"}, 400, "Bad Request - Invalid CallBackURL"),
        ({"PartyB": "till"}, 400, "Bad Request - Invalid PartyB"),
    ],
)  # fmt: skip
async def test_stk_push_validation(
    fake: httpx.AsyncClient, receiver: Receiver, changes: dict[str, Any], status: int, message: str
) -> None:
    resp = await push(fake, push_body(receiver.url + "/stk", **changes))
    assert resp.status_code == status
    assert resp.json()["errorMessage"] == message
    assert resp.json()["errorCode"] == ("500.001.1001" if status == 500 else "400.002.02")
    transactions = (await fake.get("/__fake__/transactions")).json()
    assert transactions == []


async def test_stk_push_without_json_content_type(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    headers = {"Authorization": f"Bearer {await token(fake)}", "Content-Type": "text/plain"}
    body = json.dumps(push_body(receiver.url + "/stk"))
    resp = await fake.post("/mpesa/stkpush/v1/processrequest", content=body, headers=headers)
    assert resp.json()["errorMessage"] == "Bad Request - Invalid BusinessShortCode"


# ---------------------------------------------------------------- STK scenarios
async def test_success_callback_and_query(fake: httpx.AsyncClient, receiver: Receiver) -> None:
    first = await push_ok(fake, push_body(receiver.url + "/stk"))
    second = await push_ok(fake, push_body(receiver.url + "/stk", Amount=50))
    hits = await receiver.wait("/stk", 2)
    by_id = {stk(hit)["CheckoutRequestID"]: stk(hit) for hit in hits}
    callback = by_id[first]
    assert callback["ResultCode"] == 0
    assert callback["ResultDesc"] == "The service request is processed successfully."
    items = {item["Name"]: item.get("Value") for item in callback["CallbackMetadata"]["Item"]}
    assert items["Amount"] == 10.0
    assert re.fullmatch(r"[A-Z][A-Z0-9]{9}", items["MpesaReceiptNumber"])
    assert isinstance(items["TransactionDate"], int)
    assert str(items["TransactionDate"]).startswith(datetime.now(EAT).strftime("%Y%m%d"))
    assert items["PhoneNumber"] == int(PHONE)
    other = {i["Name"]: i.get("Value") for i in by_id[second]["CallbackMetadata"]["Item"]}
    assert other["MpesaReceiptNumber"] != items["MpesaReceiptNumber"]
    assert other["Amount"] == 50.0
    answer = (await query(fake, first)).json()
    assert (answer["ResultCode"], answer["ResponseCode"]) == ("0", "0")
    assert answer["CheckoutRequestID"] == first
    deliveries = await finished_deliveries(fake, 2)
    assert [d["status_code"] for d in deliveries] == [200, 200]
    received = (await fake.get("/__fake__/requests")).json()
    pushes = [r for r in received if r["path"] == "/mpesa/stkpush/v1/processrequest"]
    assert pushes[0]["body"]["AccountReference"] == "HOTSPOT1"
    assert pushes[0]["response"]["CheckoutRequestID"] == first
    assert pushes[0]["app"] == DEMO_CONSUMER_KEY


@pytest.mark.parametrize(
    ("phone", "code", "desc"),
    [
        ("254700000001", 1032, "Request cancelled by user"),
        ("254700000002", 1037, "DS timeout user cannot be reached"),
        ("254700000003", 2001, "The initiator information is invalid."),
        ("254700000004", 1, "The balance is insufficient for the transaction."),
        ("254700000005", "SFC_IC0003", "The operator does not exist."),
    ],
)
async def test_failure_scenarios_by_magic_phone(
    fake: httpx.AsyncClient, receiver: Receiver, phone: str, code: int | str, desc: str
) -> None:
    checkout_id = await push_ok(fake, push_body(receiver.url + "/stk", PhoneNumber=phone))
    [hit] = await receiver.wait("/stk")
    assert stk(hit) == {
        "MerchantRequestID": stk(hit)["MerchantRequestID"],
        "CheckoutRequestID": checkout_id,
        "ResultCode": code,
        "ResultDesc": desc,
    }
    answer = (await query(fake, checkout_id)).json()
    assert (answer["ResultCode"], answer["ResultDesc"]) == (str(code), desc)


async def test_scenario_set_through_the_control_api(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    scenario = {"phone": PHONE, "scenario": "wrong_pin", "once": True}
    assert (await fake.post("/__fake__/scenario", json=scenario)).status_code == 200
    await push_ok(fake, push_body(receiver.url + "/stk"))
    await push_ok(fake, push_body(receiver.url + "/stk"))
    hits = await receiver.wait("/stk", 2)
    assert sorted(stk(hit)["ResultCode"] for hit in hits) == [0, 2001]
    bad = await fake.post("/__fake__/scenario", json={"phone": PHONE, "scenario": "nope"})
    assert bad.status_code == 422


async def test_till_push(fake: httpx.AsyncClient, receiver: Receiver) -> None:
    pw, stamp = password(DEMO_STORE, DEMO_STORE_PASSKEY)
    till = {"BusinessShortCode": DEMO_STORE, "Password": pw, "Timestamp": stamp}
    buy_goods = {**till, "TransactionType": "CustomerBuyGoodsOnline"}
    good = await push_ok(fake, push_body(receiver.url + "/stk", **buy_goods, PartyB=DEMO_TILL))
    wrong_b = await push_ok(fake, push_body(receiver.url + "/stk", **buy_goods, PartyB=DEMO_STORE))
    wrong_type = await push_ok(fake, push_body(receiver.url + "/stk", **till, PartyB=DEMO_TILL))
    paybill_as_till = await push_ok(
        fake, push_body(receiver.url + "/stk", TransactionType="CustomerBuyGoodsOnline")
    )
    hits = {stk(hit)["CheckoutRequestID"]: stk(hit) for hit in await receiver.wait("/stk", 4)}
    assert hits[good]["ResultCode"] == 0
    for checkout_id in (wrong_b, wrong_type, paybill_as_till):
        assert hits[checkout_id]["ResultCode"] == "SFC_IC0003"
        assert "CallbackMetadata" not in hits[checkout_id]


@pytest.mark.parametrize(("phone", "in_flight"), [("254700000006", 1), ("254700000007", 3)])
async def test_duplicate_callbacks(
    fake: httpx.AsyncClient, receiver: Receiver, phone: str, in_flight: int
) -> None:
    await push_ok(fake, push_body(receiver.url + "/hold/stk", PhoneNumber=phone))
    hits = await receiver.wait("/hold/stk", 3)
    await asyncio.sleep(0.4)
    assert len(receiver.at("/hold/stk")) == 3
    assert hits[0]["body"] == hits[1]["body"] == hits[2]["body"]
    assert stk(hits[0])["ResultCode"] == 0
    assert receiver.max_in_flight["/hold/stk"] == in_flight
    spread = hits[2]["at"] - hits[0]["at"]
    assert spread >= 0.5 if in_flight == 1 else spread < 0.2


async def test_late_callback(fake: httpx.AsyncClient, receiver: Receiver) -> None:
    scenario = {"phone": PHONE, "scenario": "late_callback", "params": {"late_delay_ms": 600}}
    await fake.post("/__fake__/scenario", json=scenario)
    started = time.monotonic()
    checkout_id = await push_ok(fake, push_body(receiver.url + "/stk"))
    await asyncio.sleep(0.25)
    assert (await query(fake, checkout_id)).json()["ResultCode"] == "0"
    assert receiver.at("/stk") == []
    [hit] = await receiver.wait("/stk")
    assert hit["at"] - started >= 0.6
    assert stk(hit)["ResultCode"] == 0


async def test_no_callback_resolves_only_through_query(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    scenario = {"phone": "254700000009", "scenario": "no_callback", "params": {"delay_ms": 300}}
    await fake.post("/__fake__/scenario", json=scenario)
    body = push_body(receiver.url + "/stk", PhoneNumber="254700000009")
    checkout_id = await push_ok(fake, body)
    pending = await query(fake, checkout_id)
    assert pending.status_code == 500
    assert pending.json()["errorCode"] == "500.001.1001"
    assert pending.json()["errorMessage"] == "The transaction is being processed"
    await asyncio.sleep(0.5)
    assert (await query(fake, checkout_id)).json()["ResultCode"] == "0"
    assert receiver.hits == []
    assert (await fake.get("/__fake__/callbacks")).json() == []


async def test_query_contradicting_the_callback(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    body = push_body(receiver.url + "/stk", PhoneNumber="254700000010")
    checkout_id = await push_ok(fake, body)
    [hit] = await receiver.wait("/stk")
    assert stk(hit)["ResultCode"] == 0
    answer = (await query(fake, checkout_id)).json()
    assert (answer["ResultCode"], answer["ResultDesc"]) == ("1032", "Request cancelled by user")


async def test_query_of_an_unknown_checkout_request(fake: httpx.AsyncClient) -> None:
    resp = await query(fake, "ws_CO_000000000000000000")
    assert resp.status_code == 400
    assert resp.json()["errorMessage"] == "Bad Request - Invalid CheckoutRequestID"


async def test_callback_to_an_unreachable_url_is_recorded(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{sock.getsockname()[1]}/stk"
    sock.close()
    await push_ok(fake, push_body(dead))
    deliveries = await finished_deliveries(fake, 1)
    assert deliveries[0]["status_code"] is None
    assert "ConnectError" in deliveries[0]["error"]


async def test_unknown_path_answers_like_daraja(fake: httpx.AsyncClient) -> None:
    resp = await fake.post("/mpesa/nothing/v1/here", json={})
    assert resp.status_code == 404
    assert resp.json()["errorCode"] == "404.001.01"


# ---------------------------------------------------------------- C2B
async def c2b(fake: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {await token(fake)}"}
    return await fake.post(path, json=body, headers=headers)


async def register(fake: httpx.AsyncClient, receiver: Receiver, response_type: str) -> None:
    body = {
        "ShortCode": "600984",
        "ResponseType": response_type,
        "ConfirmationURL": receiver.url + "/c2b/confirm",
        "ValidationURL": receiver.url + "/c2b/validate",
    }
    resp = await c2b(fake, "/mpesa/c2b/v2/registerurl", body)
    assert resp.json() == {
        "OriginatorCoversationID": resp.json()["OriginatorCoversationID"],
        "ResponseCode": "0",
        "ResponseDescription": "Success",
    }


def simulate_body(**changes: Any) -> dict[str, Any]:
    body = {
        "ShortCode": 600984,
        "CommandID": "CustomerPayBillOnline",
        "Amount": 5,
        "Msisdn": 254708374126,
        "BillRefNumber": "HS-ALICE",
    }
    return {**body, **changes}


async def test_c2b_register_and_simulate(fake: httpx.AsyncClient, receiver: Receiver) -> None:
    await register(fake, receiver, "Completed")
    receiver.answers["/c2b/validate"] = (
        200,
        b'{"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "ours-1"}',
    )
    resp = await c2b(fake, "/mpesa/c2b/v1/simulate", simulate_body())
    assert resp.json()["ResponseDescription"] == "Accept the service request successfully."
    [confirmation] = await receiver.wait("/c2b/confirm")
    [validation] = receiver.at("/c2b/validate")
    assert validation["at"] < confirmation["at"]
    sent = validation["body"]
    assert sent["TransactionType"] == "Pay Bill"
    assert (sent["TransAmount"], sent["BusinessShortCode"]) == ("5.00", "600984")
    assert (sent["BillRefNumber"], sent["OrgAccountBalance"]) == ("HS-ALICE", "")
    assert sent["MSISDN"] == "2547 ***** 126"
    assert re.fullmatch(r"[A-Z][A-Z0-9]{9}", sent["TransID"])
    done = confirmation["body"]
    assert done["TransID"] == sent["TransID"]
    assert done["OrgAccountBalance"] == "5.00"
    assert done["ThirdPartyTransID"] == "ours-1"


async def test_c2b_buy_goods_has_no_bill_reference(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(fake, receiver, "Completed")
    await c2b(fake, "/mpesa/c2b/v1/simulate", simulate_body(CommandID="CustomerBuyGoodsOnline"))
    [confirmation] = await receiver.wait("/c2b/confirm")
    assert confirmation["body"]["TransactionType"] == "Buy Goods"
    assert confirmation["body"]["BillRefNumber"] == ""


async def test_c2b_validation_rejection_stops_the_payment(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    await register(fake, receiver, "Completed")
    receiver.answers["/c2b/validate"] = (200, b'{"ResultCode": "C2B00012", "ResultDesc": "No"}')
    await c2b(fake, "/mpesa/c2b/v1/simulate", simulate_body())
    await receiver.wait("/c2b/validate")
    await asyncio.sleep(0.3)
    assert receiver.at("/c2b/confirm") == []


@pytest.mark.parametrize(("response_type", "confirmed"), [("Completed", 1), ("Cancelled", 0)])
async def test_c2b_failed_validation_applies_the_response_type(
    fake: httpx.AsyncClient, receiver: Receiver, response_type: str, confirmed: int
) -> None:
    await register(fake, receiver, response_type)
    receiver.answers["/c2b/validate"] = (503, b"down")
    await c2b(fake, "/mpesa/c2b/v1/simulate", simulate_body())
    await receiver.wait("/c2b/validate")
    await asyncio.sleep(0.3)
    assert len(receiver.at("/c2b/confirm")) == confirmed


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"ConfirmationURL": "https://isp.example/mpesa/confirm"}, "400.002.05"),
        ({"ResponseType": "completed"}, "400.002.02"),
    ],
)
async def test_c2b_register_refused(
    fake: httpx.AsyncClient, changes: dict[str, str], code: str
) -> None:
    body = {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": "https://isp.example/pay/confirm",
        **changes,
    }
    resp = await c2b(fake, "/mpesa/c2b/v2/registerurl", body)
    assert resp.status_code == 400
    assert resp.json()["errorCode"] == code


async def test_new_token_invalidates_the_previous_one_when_asked(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    await fake.post("/__fake__/config", json={"invalidate_previous_token": True})
    old = await token(fake)
    await push_ok(fake, push_body(receiver.url + "/stk"))  # takes a new token
    headers = {"Authorization": f"Bearer {old}"}
    body = push_body(receiver.url + "/stk")
    resp = await fake.post("/mpesa/stkpush/v1/processrequest", json=body, headers=headers)
    assert resp.json()["errorCode"] == "404.001.03"


async def test_timestamp_skew_is_checked_when_configured(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    await fake.post("/__fake__/config", json={"timestamp_skew_seconds": 300})
    stamp = "20210628092408"
    pw = base64.b64encode(f"{SANDBOX_SHORTCODE}{SANDBOX_PASSKEY}{stamp}".encode()).decode()
    resp = await push(fake, push_body(receiver.url + "/stk", Timestamp=stamp, Password=pw))
    assert resp.json()["errorMessage"] == "Bad Request - Invalid Timestamp"
    await fake.post("/__fake__/config", json={"timestamp_skew_seconds": None})
    await push_ok(fake, push_body(receiver.url + "/stk", Timestamp=stamp, Password=pw))
    unknown = await fake.post("/__fake__/config", json={"nope": 1})
    assert unknown.status_code == 422


async def test_apps_added_through_the_control_api(
    fake: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant_app = {
        "consumer_key": "ck_tenant_b",
        "consumer_secret": "cs_tenant_b",
        "shortcodes": [{"shortcode": "600100", "type": "paybill", "passkey": "pk_b"}],
    }
    assert (await fake.post("/__fake__/apps", json=tenant_app)).status_code == 200
    resp = await fake.get(
        "/oauth/v1/generate?grant_type=client_credentials", auth=("ck_tenant_b", "cs_tenant_b")
    )
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    pw, stamp = password("600100", "pk_b")
    body = push_body(
        receiver.url + "/stk", BusinessShortCode="600100", PartyB="600100", Password=pw,
        Timestamp=stamp,
    )  # fmt: skip
    ok = await fake.post("/mpesa/stkpush/v1/processrequest", json=body, headers=headers)
    assert ok.json()["ResponseCode"] == "0"
    # The demo app's token does not reach another app's shortcode.
    other = await push(fake, body)
    assert other.json()["errorMessage"] == "Merchant does not exist"
