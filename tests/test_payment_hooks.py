"""The callback door: what makes an STK callback believable, and that everything else grants
nothing but is still recorded, raw, with its verdict. Daraja signs nothing, so the layers are
the URL token, the source address (through trusted proxies only), the payload's shape, the
CheckoutRequestID being one this ISP sent, and the amount and phone it asked for."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from pathlib import Path

import httpx
import pytest

from api.config import get_settings
from api.payments import events as payment_events
from api.payments import tasks
from tests.payshop import Shop, events, make_shop, money, new_receipt, phone, stk_body
from tests.radius.conftest import sql

API = os.environ.get("MNETIFI_PUBLIC_URL", "")


async def pending(shop: Shop, msisdn: str | None = None) -> dict:
    """A push this ISP sent and that waits for its callback (as stored after Daraja's answer)."""
    rows = await sql(
        """INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference,
                                    merchant_request_id, checkout_request_id)
           VALUES (:t, :plan, :phone, :amount, 'paybill', :ref, :merchant, :checkout)
           RETURNING *""",
        t=shop.tenant_id,
        plan=shop.plan_id,
        phone=msisdn or phone(),
        amount=shop.price,
        ref="WF" + secrets.token_hex(4).upper(),
        merchant="29115-" + secrets.token_hex(4),
        checkout="ws_CO_" + secrets.token_hex(10),
    )
    return dict(rows[0])


def genuine(req: dict, **overrides) -> dict:
    args = {"amount": float(req["amount"]), "phone": req["phone"]} | overrides
    return stk_body(req["checkout_request_id"], **args)


async def status_of(req: dict) -> str:
    return (await sql("SELECT status FROM stk_request WHERE id = :i", i=req["id"]))[0]["status"]


def client_from(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def over_network(source: str) -> httpx.AsyncClient:
    """Real TCP to the stack's API from a chosen loopback address."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    return httpx.AsyncClient(transport=transport, base_url=API, timeout=10)


async def test_a_genuine_callback_grants(client):
    shop = await make_shop()
    req = await pending(shop)
    response = await client.post(shop.hook(), json=genuine(req))
    assert response.status_code == 200 and response.json()["ResultCode"] == 0
    assert await status_of(req) == "paid"
    assert len((await money(shop.tenant_id))["grants"]) == 1


async def test_non_allowlisted_source_is_forged(app):
    shop = await make_shop()
    req = await pending(shop)
    async with client_from(app, "10.9.9.9") as outsider:
        response = await outsider.post(shop.hook(), json=genuine(req))
    assert response.status_code == 403
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "forged" and "10.9.9.9" in event["reason"]
    assert str(event["source_ip"]) == "10.9.9.9" and json.loads(event["body"])
    assert await status_of(req) == "pending"
    assert (await money(shop.tenant_id))["payments"] == []


async def test_forwarded_for_counts_only_through_a_trusted_proxy():
    """The test stack trusts a proxy at 127.0.0.3; 127.0.0.2 is a stranger. Real sockets."""
    shop = await make_shop()
    safaricom = "196.201.214.200"
    cases = [
        ("127.0.0.2", safaricom, "forged"),  # spoofed header from an untrusted peer
        ("127.0.0.3", "10.1.1.1", "forged"),  # the proxy says the caller was a stranger
        ("127.0.0.3", f"6.6.6.6, {safaricom}", "ok"),  # right-most untrusted hop is Safaricom
    ]
    for source, forwarded, verdict in cases:
        req = await pending(shop)
        async with over_network(source) as http:
            response = await http.post(
                shop.hook(), json=genuine(req), headers={"X-Forwarded-For": forwarded}
            )
        assert response.status_code == (200 if verdict == "ok" else 403), (source, forwarded)
        event = (await events(shop.tenant_id))[-1]
        assert event["verdict"] == verdict and str(event["peer_ip"]) == source
        assert await status_of(req) == ("paid" if verdict == "ok" else "pending")


async def test_wrong_url_token_and_unknown_isp_are_forged(client):
    shop = await make_shop()
    req = await pending(shop)
    wrong = await client.post(shop.hook(token=secrets.token_urlsafe(32)), json=genuine(req))
    assert wrong.status_code == 403
    [event] = await events(shop.tenant_id)
    assert (event["verdict"], event["reason"]) == ("forged", "wrong URL token")
    before = len(await events(None))
    nobody = await client.post(f"/hooks/2000000000/{shop.token}/stk", json=genuine(req))
    junk = await client.post(f"/hooks/abc/{shop.token}/stk", json=genuine(req))
    assert nobody.status_code == junk.status_code == 403
    assert len(await events(None)) == before + 2
    assert await status_of(req) == "pending"
    assert (await money(shop.tenant_id))["payments"] == []


async def test_unknown_and_other_isps_checkout_ids_grant_nothing(client):
    shop, other = await make_shop(), await make_shop()
    theirs = await pending(other)
    unknown = stk_body("ws_CO_" + secrets.token_hex(10), amount=float(shop.price))
    assert (await client.post(shop.hook(), json=unknown)).status_code == 200
    stolen = await client.post(shop.hook(), json=genuine(theirs))
    assert stolen.status_code == 200
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["unknown", "unknown"]
    assert await status_of(theirs) == "pending"
    assert (await money(shop.tenant_id))["payments"] == []
    assert (await money(other.tenant_id))["payments"] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [({"amount": 1.0}, "amount"), ({"phone": "254711111111"}, "another phone")],
)
async def test_mismatched_amount_or_phone_grants_nothing(client, change, words):
    shop = await make_shop(price=50)
    req = await pending(shop)
    response = await client.post(shop.hook(), json=genuine(req, **change))
    assert response.status_code == 200
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "mismatch" and words in event["reason"]
    assert await status_of(req) == "pending"
    assert (await money(shop.tenant_id))["payments"] == []
    # The real one still goes through afterwards.
    assert (await client.post(shop.hook(), json=genuine(req))).status_code == 200
    assert await status_of(req) == "paid"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"Body": {"stkCallback": ', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"Body": {}}', "stkCallback"),
        (json.dumps({"Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1",
                     "MerchantRequestID": "m", "ResultCode": 0}}}).encode(), "CallbackMetadata"),
        (b"x" * (64 * 1024 + 10), "larger than"),
    ],
)  # fmt: skip
async def test_malformed_payloads_are_400_and_recorded(client, body, words):
    shop = await make_shop()
    req = await pending(shop)
    response = await client.post(
        shop.hook(), content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "malformed" and words in event["reason"]
    assert await status_of(req) == "pending"


async def test_a_bad_receipt_number_is_malformed(client):
    shop = await make_shop()
    req = await pending(shop)
    body = genuine(req, receipt="nlj7'; drop")
    assert (await client.post(shop.hook(), json=body)).status_code == 400
    assert (await events(shop.tenant_id))[0]["verdict"] == "malformed"


async def test_three_concurrent_duplicates_make_one_payment_and_one_grant():
    shop = await make_shop()
    req = await pending(shop)
    body = genuine(req, receipt=new_receipt())
    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        answers = await asyncio.gather(*(http.post(shop.hook(), json=body) for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert len(rows["vouchers"]) == 1
    verdicts = sorted(e["verdict"] for e in await events(shop.tenant_id))
    assert verdicts == ["duplicate", "duplicate", "ok"]


async def test_a_callback_faster_than_the_push_commit_is_replayed(client):
    shop = await make_shop()
    req = await pending(shop)
    checkout = req["checkout_request_id"]
    await sql("UPDATE stk_request SET checkout_request_id = NULL WHERE id = :i", i=req["id"])
    await client.post(shop.hook(), json=genuine(req))
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["unknown"]
    await sql(
        "UPDATE stk_request SET checkout_request_id = :c WHERE id = :i", c=checkout, i=req["id"]
    )
    await payment_events.replay_unknown(shop.tenant_id, checkout)
    assert await status_of(req) == "paid"
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["ok"]


async def test_an_event_stored_but_never_judged_is_finished_by_the_worker():
    shop = await make_shop()
    req = await pending(shop)
    await sql(
        "INSERT INTO payment_event (tenant_id, kind, body, received_at) "
        "VALUES (:t, 'stk_callback', :b, now() - interval '5 minutes')",
        t=shop.tenant_id,
        b=json.dumps(genuine(req)),
    )
    await tasks.repair_events(older_than=60)  # (the stack's worker may have done it already)
    assert await status_of(req) == "paid"
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["ok"]


async def test_log_mode_accepts_unlisted_sources_but_flags_them(app, monkeypatch):
    monkeypatch.setenv("MNETIFI_CALLBACK_IP_CHECK", "log")
    get_settings.cache_clear()
    try:
        shop = await make_shop()
        req = await pending(shop)
        async with client_from(app, "10.9.9.9") as outsider:
            assert (await outsider.post(shop.hook(), json=genuine(req))).status_code == 200
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "ok" and "log-only" in event["reason"]
    assert await status_of(req) == "paid"


async def test_the_access_log_never_shows_the_url_token():
    shop = await make_shop()
    req = await pending(shop)
    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        assert (await http.post(shop.hook(), json=genuine(req))).status_code == 200
    await asyncio.sleep(0.2)  # the access log line is written after the response
    log = (Path(os.environ["MNETIFI_RUN_DIR"]) / "api.log").read_text()
    assert f"/hooks/{shop.tenant_id}/***/stk" in log
    assert shop.token not in log
