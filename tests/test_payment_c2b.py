"""Customers paying from the M-Pesa menu (C2B), against the real stack and the fake Daraja: URL
registration, validation answers, confirmations that grant (new voucher or top-up) exactly once,
money that is held rather than dropped, till payments claimed on the portal, forged and
malformed posts, a C2B voucher logging in through FreeRADIUS, and the STK/C2B dedupe.

Daraja's posts either travel fake -> the stack's API process over HTTP (after a simulate), or are
posted here: in-process (`client`, peer 127.0.0.1, allowlisted) or to MNETIFI_PUBLIC_URL."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api import crypto
from api.config import get_settings
from api.db import unit_of_work
from api.payments import c2b
from api.tenancy import Principal
from deploy.fakes.daraja import C2B_BANNED
from deploy.fakes.daraja_state import (
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_TILL,
    SANDBOX_SHORTCODE,
)
from tests.factories import make_user_headers, make_voucher, random_ip
from tests.payshop import (
    API,
    FAKE,
    Shop,
    add_plan,
    add_router,
    buy,
    events,
    fake,
    make_shop,
    money,
    new_receipt,
    phone,
    purchase_row,
    stk_body,
    wait_status,
)
from tests.radius.conftest import sql
from tests.radius.radclient import hotspot_request, send, warm_up

MASKED = "2547 ***** 126"


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


@pytest.fixture
async def portal(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A customer's browser on its own address, so claim limits are not shared between tests."""
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def c2b_body(
    *, amount: int | str, ref: str = "", shortcode: str = SANDBOX_SHORTCODE,
    receipt: str | None = None, msisdn: str = MASKED,
) -> dict[str, Any]:  # fmt: skip
    """A v2 validation/confirmation exactly as Daraja posts it (reference section 6.3)."""
    return {
        "TransactionType": "Pay Bill" if ref else "Buy Goods",
        "TransID": receipt or new_receipt(),
        "TransTime": "20231121121325",
        "TransAmount": f"{amount}.00" if isinstance(amount, int) else amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "25.00",
        "ThirdPartyTransID": "",
        "MSISDN": msisdn,
        "FirstName": "NICHOLAS",
        "MiddleName": "",
        "LastName": "",
    }


async def confirm(client: httpx.AsyncClient, shop: Shop, body: dict[str, Any]) -> httpx.Response:
    response = await client.post(shop.hook("c2b/confirm"), json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"ResultCode": 0, "ResultDesc": "Success"}
    return response


async def validate(client: httpx.AsyncClient, shop: Shop, body: dict[str, Any]) -> str:
    response = await client.post(shop.hook("c2b/validate"), json=body)
    assert response.status_code == 200, response.text
    return response.json()["ResultCode"]


async def c2b_shop(**terms: Any) -> Shop:
    """An ISP whose C2B URLs Daraja takes: its URL token never spells a banned word."""
    shop = await make_shop(**terms)
    assert not any(word in shop.token.lower() for word in C2B_BANNED), shop.token
    return shop


async def register(shop: Shop) -> None:
    async with unit_of_work() as session:
        await c2b.register_urls(session, Principal.cli(shop.tenant_id))


async def simulate(
    *, amount: int, ref: str = "", shortcode: str = SANDBOX_SHORTCODE, msisdn: str | None = None
) -> None:
    """A customer paying from the M-Pesa menu, as the fake's sandbox simulate API plays it."""
    async with httpx.AsyncClient(base_url=FAKE, timeout=10) as http:
        token = await http.get(
            "/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET),
        )
        assert token.status_code == 200, token.text
        response = await http.post(
            "/mpesa/c2b/v2/simulate",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            json={
                "ShortCode": shortcode,
                "CommandID": "CustomerPayBillOnline" if ref else "CustomerBuyGoodsOnline",
                "Amount": amount,
                "Msisdn": msisdn or phone(),
                "BillRefNumber": ref,
            },
        )
        assert response.status_code == 200, response.text


async def deliveries(kind: str, count: int = 1, wait: float = 10) -> list[dict[str, Any]]:
    """The fake's finished C2B posts of `kind` (c2b_validation or c2b_confirmation)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        done = [
            c for c in await fake("GET", "callbacks") if c["kind"] == kind and c.get("finished_at")
        ]
        if len(done) >= count:
            return done
        assert asyncio.get_running_loop().time() < deadline, done
        await asyncio.sleep(0.05)


async def voucher_row(shop: Shop, code: str) -> dict[str, Any]:
    rows = await sql(
        "SELECT * FROM voucher WHERE tenant_id = :t AND code = :c", t=shop.tenant_id, c=code
    )
    return dict(rows[0])


async def batch_voucher(shop: Shop, *, in_use: bool = False) -> dict[str, Any]:
    voucher = await make_voucher(plan=SimpleNamespace(id=shop.plan_id, tenant_id=shop.tenant_id))
    if in_use:
        await sql(
            "UPDATE voucher SET first_used_at = now(), expires_at = now() + interval '1 hour' "
            "WHERE id = :v", v=voucher.id,
        )  # fmt: skip
    return await voucher_row(shop, voucher.code)


async def claim(
    http: httpx.AsyncClient, shop: Shop, receipt: str, plan_id: int | None = None
) -> httpx.Response:
    body = {"receipt": receipt, "plan_id": plan_id or shop.plan_id}
    return await http.post("/api/v1/portal/claims", json=body, headers=shop.host)


async def vouchers_of(shop: Shop) -> int:
    rows = await sql("SELECT count(*) AS n FROM voucher WHERE tenant_id = :t", t=shop.tenant_id)
    return rows[0]["n"]


def local_msisdn() -> str:
    return "0" + phone()[3:]


# ------------------------------------------------------------------ 1. URL registration


async def test_registering_urls_sends_our_hooks_and_is_audited(client):
    shop = await c2b_shop()
    tenant = SimpleNamespace(id=shop.tenant_id, slug=shop.slug)
    _, headers = await make_user_headers(client, tenant=tenant)

    response = await client.post("/api/v1/payments/c2b/register", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["shortcode"] == SANDBOX_SHORTCODE
    # (a token cached before the fake's reset is refused first, then the request is retried)
    [sent] = [
        r for r in await fake("GET", "requests")
        if r["path"].endswith("/registerurl") and r["status_code"] == 200
    ]  # fmt: skip
    assert sent["path"] == "/mpesa/c2b/v2/registerurl"
    body = sent["body"]
    assert (body["ShortCode"], body["ResponseType"]) == (SANDBOX_SHORTCODE, "Completed")
    base = f"{get_settings().public_url}/hooks/{shop.tenant_id}/{shop.token}"
    assert body["ConfirmationURL"] == f"{base}/c2b/confirm"
    assert body["ValidationURL"] == f"{base}/c2b/validate"
    for url in (body["ConfirmationURL"], body["ValidationURL"]):
        assert "mpesa" not in url.lower() and "query" not in url.lower()
    [audit] = await sql(
        "SELECT * FROM audit_event WHERE tenant_id = :t AND action = 'payments.c2b.register'",
        t=shop.tenant_id,
    )
    assert audit["details"] == {"shortcode": SANDBOX_SHORTCODE, "api_version": "v2"}
    settings = await sql("SELECT * FROM payment_settings WHERE tenant_id = :t", t=shop.tenant_id)
    assert settings[0]["c2b_registered_at"] is not None


async def test_a_refused_registration_is_a_4xx_and_records_nothing(client):
    shop = await make_shop()
    tenant = SimpleNamespace(id=shop.tenant_id, slug=shop.slug)
    _, headers = await make_user_headers(client, tenant=tenant)
    # Daraja refuses URLs containing words such as "sql", in any case (a token can spell one).
    await sql(
        "UPDATE payment_settings SET callback_token_enc = :enc WHERE tenant_id = :t",
        enc=crypto.encrypt("xSqLx" + secrets.token_hex(16)), t=shop.tenant_id,
    )  # fmt: skip

    response = await client.post("/api/v1/payments/c2b/register", headers=headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "Daraja refused the registration: Invalid Request Payload"
    sent = [r for r in await fake("GET", "requests") if r["path"].endswith("/registerurl")]
    codes = [r["status_code"] for r in sent]  # a stale cached token may be refused first
    assert codes[-1] == 400 and 200 not in codes
    audits = await sql(
        "SELECT * FROM audit_event WHERE tenant_id = :t AND action = 'payments.c2b.register'",
        t=shop.tenant_id,
    )
    assert audits == []
    settings = await sql("SELECT * FROM payment_settings WHERE tenant_id = :t", t=shop.tenant_id)
    assert settings[0]["c2b_registered_at"] is None


# ------------------------------------------------------------------ 2. validation


async def test_validation_answers_with_the_documented_codes(client):
    shop = await make_shop(price=20)
    live = await batch_voucher(shop)
    msisdn = phone()
    await fake("POST", "scenario", json={"phone": msisdn, "scenario": "no_callback"})
    started = (await buy(client, shop, msisdn)).json()
    reference = (await purchase_row(started["id"]))["reference"]

    cases = [
        (c2b_body(amount=20, ref="NOSUCHACCOUNT"), "C2B00012"),
        (c2b_body(amount=21, ref=local_msisdn()), "C2B00013"),
        (c2b_body(amount=20, ref=local_msisdn(), shortcode="600000"), "C2B00015"),
        (c2b_body(amount=20, ref=local_msisdn()), "0"),
        (c2b_body(amount=20, ref=phone()), "0"),
        (c2b_body(amount=20, ref=live["code"].lower()), "0"),
        (c2b_body(amount=20, ref=reference), "0"),
        (c2b_body(amount=21, ref=reference), "C2B00013"),
    ]
    for body, code in cases:
        assert await validate(client, shop, body) == code, body["BillRefNumber"]

    verdicts = [(e["verdict"], (e["reason"] or "")[:8]) for e in await events(shop.tenant_id)]
    assert verdicts == [
        ("rejected", "C2B00012"), ("rejected", "C2B00013"), ("rejected", "C2B00015"),
        ("ok", ""), ("ok", ""), ("ok", ""), ("ok", ""), ("rejected", "C2B00013"),
    ]  # fmt: skip
    rows = await money(shop.tenant_id)
    assert rows["payments"] == [] and rows["grants"] == []


async def test_a_rejected_payment_is_never_confirmed_nor_granted(client):
    shop = await c2b_shop(price=20)
    await register(shop)
    await simulate(amount=20, ref="NOSUCHACCOUNT")
    await simulate(amount=20, ref=local_msisdn())  # accepted: shows that confirmations do flow

    validations = await deliveries("c2b_validation", 2)
    [confirmation] = await deliveries("c2b_confirmation", 1)
    answers = {v["body"]["BillRefNumber"]: v["response"]["ResultCode"] for v in validations}
    assert answers["NOSUCHACCOUNT"] == "C2B00012"
    assert confirmation["body"]["BillRefNumber"] != "NOSUCHACCOUNT"
    assert confirmation["status_code"] == 200
    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert rows["payments"][0]["account_reference"] == confirmation["body"]["BillRefNumber"]


# ------------------------------------------------------------------ 3. paybill confirmations


@pytest.mark.parametrize("style", ["07", "2547", "+254 spaced"])
async def test_paying_to_a_phone_number_makes_a_voucher_for_that_phone(client, style):
    shop = await make_shop(price=20)
    msisdn = phone()
    ref = {"07": "0" + msisdn[3:], "2547": msisdn, "+254 spaced": f"+{msisdn[:6]} {msisdn[6:]}"}
    body = c2b_body(amount=20, ref=ref[style])

    await confirm(client, shop, body)

    rows = await money(shop.tenant_id)
    [payment], [grant], [voucher] = rows["payments"], rows["grants"], rows["vouchers"]
    assert (payment["status"], payment["source"], payment["receipt"]) == (
        "granted", "c2b", body["TransID"],
    )  # fmt: skip
    assert payment["amount"] == 20 and payment["shortcode"] == SANDBOX_SHORTCODE
    assert (grant["kind"], grant["payment_id"], grant["voucher_id"]) == (
        "new", payment["id"], voucher["id"],
    )  # fmt: skip
    assert voucher["phone"] == msisdn and voucher["plan_id"] == shop.plan_id
    [event] = await events(shop.tenant_id)
    assert (event["kind"], event["verdict"], event["payment_id"]) == (
        "c2b_confirmation", "ok", payment["id"],
    )  # fmt: skip


@pytest.mark.parametrize("in_use", [False, True])
async def test_paying_to_a_live_voucher_code_tops_it_up(client, in_use):
    shop = await make_shop(price=20, duration_seconds=3600)
    before = await batch_voucher(shop, in_use=in_use)

    await confirm(client, shop, c2b_body(amount=20, ref=before["code"].lower()))

    after = await voucher_row(shop, before["code"])
    assert after["duration_seconds"] == before["duration_seconds"] + 3600
    if in_use:
        assert (after["expires_at"] - before["expires_at"]).total_seconds() == 3600
    else:
        assert after["expires_at"] is None  # the clock starts at the first login
    rows = await money(shop.tenant_id)
    assert rows["vouchers"] == [] and await vouchers_of(shop) == 1
    [payment], [grant] = rows["payments"], rows["grants"]
    assert payment["status"] == "granted"
    assert (grant["kind"], grant["voucher_id"]) == ("extend", before["id"])


async def test_the_same_confirmation_twice_grants_once(client):
    shop = await make_shop(price=20)
    body = c2b_body(amount=20, ref=local_msisdn())

    await confirm(client, shop, body)
    await confirm(client, shop, body)

    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert len(rows["vouchers"]) == 1
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["ok", "duplicate"]


@pytest.mark.parametrize("account", ["phone", "voucher"])
async def test_three_concurrent_deliveries_grant_once(account):
    shop = await make_shop(price=20, duration_seconds=3600)
    voucher = await batch_voucher(shop, in_use=True)
    ref = local_msisdn() if account == "phone" else voucher["code"]
    body = c2b_body(amount=20, ref=ref)

    async with httpx.AsyncClient(base_url=API, timeout=10) as http:
        answers = await asyncio.gather(
            *(http.post(shop.hook("c2b/confirm"), json=body) for _ in range(3))
        )

    assert [a.status_code for a in answers] == [200, 200, 200]
    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert len(rows["vouchers"]) == (1 if account == "phone" else 0)
    after = await voucher_row(shop, voucher["code"])
    grown = 3600 if account == "voucher" else 0
    assert after["duration_seconds"] == voucher["duration_seconds"] + grown
    verdicts = sorted(e["verdict"] for e in await events(shop.tenant_id))
    assert verdicts == ["duplicate", "duplicate", "ok"]


# ------------------------------------------------------------------ 4. money never dropped


@pytest.mark.parametrize(
    ("account", "amount", "shortcode", "words"),
    [
        ("phone", 37, SANDBOX_SHORTCODE, "no package costs 37"),
        ("NOSUCHACCOUNT", 20, SANDBOX_SHORTCODE, "no voucher, phone or purchase"),
        ("phone", 20, "600000", "not one of this ISP's numbers"),
    ],
)
async def test_money_that_buys_nothing_is_held_not_dropped(
    client, account, amount, shortcode, words
):
    shop = await make_shop(price=20)
    ref = local_msisdn() if account == "phone" else account
    body = c2b_body(amount=amount, ref=ref, shortcode=shortcode)

    await confirm(client, shop, body)  # no validation first: Daraja's default

    rows = await money(shop.tenant_id)
    [payment] = rows["payments"]
    assert (payment["status"], payment["receipt"]) == ("held", body["TransID"])
    assert payment["amount"] == amount and words in payment["note"]
    assert rows["grants"] == [] and rows["vouchers"] == []
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "ok" and event["reason"].startswith("held: ")


async def test_money_for_a_spent_voucher_is_held_and_claimable(client, portal):
    shop = await make_shop(price=20)
    spent = await batch_voucher(shop, in_use=True)
    await sql(
        "UPDATE voucher SET first_used_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 hour' WHERE id = :v", v=spent["id"],
    )  # fmt: skip
    spent = await voucher_row(shop, spent["code"])
    body = c2b_body(amount=20, ref=spent["code"])

    assert await validate(client, shop, body) == "C2B00012"
    await confirm(client, shop, body)  # validation off (the default): it arrives anyway

    [payment] = (await money(shop.tenant_id))["payments"]
    assert payment["status"] == "held" and "expired" in payment["note"]
    assert await voucher_row(shop, spent["code"]) == spent  # not topped up, not revived
    assert (await money(shop.tenant_id))["grants"] == []

    response = await claim(portal, shop, body["TransID"])
    assert response.status_code == 200, response.text
    assert response.json()["voucher"]["code"] != spent["code"]


# ------------------------------------------------------------------ 5. till payments and claims


async def till_payment(shop: Shop, amount: int) -> dict[str, Any]:
    """A Buy Goods payment to the shop's till through the fake; returns the confirmation body."""
    await register(shop)
    await simulate(amount=amount, shortcode=DEMO_TILL)
    [confirmation] = await deliveries("c2b_confirmation")
    assert confirmation["status_code"] == 200, confirmation
    return confirmation["body"]


async def test_a_till_payment_waits_unclaimed_and_is_claimed_once(client, portal):
    shop = await c2b_shop(account_type="till", price=15)
    body = await till_payment(shop, 15)
    assert body["BillRefNumber"] == "" and "*****" in body["MSISDN"]
    [validation] = await deliveries("c2b_validation")
    assert validation["response"]["ResultCode"] == "0"

    [payment] = (await money(shop.tenant_id))["payments"]
    assert (payment["status"], payment["receipt"]) == ("unclaimed", body["TransID"])
    assert (await money(shop.tenant_id))["grants"] == []

    response = await claim(portal, shop, body["TransID"].lower())
    assert response.status_code == 200, response.text
    code = response.json()["voucher"]["code"]
    rows = await money(shop.tenant_id)
    [payment], [grant], [voucher] = rows["payments"], rows["grants"], rows["vouchers"]
    assert payment["status"] == "granted" and voucher["code"] == code
    assert (grant["payment_id"], grant["voucher_id"]) == (payment["id"], voucher["id"])

    again = await claim(portal, shop, body["TransID"])
    assert again.status_code == 409, again.text
    assert len((await money(shop.tenant_id))["grants"]) == 1


async def test_a_claim_must_choose_a_package_of_the_paid_price(client, portal):
    shop = await c2b_shop(account_type="till", price=15)
    dearer = await add_plan(shop, price=50)
    receipt = (await till_payment(shop, 15))["TransID"]

    response = await claim(portal, shop, receipt, dearer)

    assert response.status_code == 422, response.text
    assert "KES 15" in response.json()["detail"]
    rows = await money(shop.tenant_id)
    assert rows["payments"][0]["status"] == "unclaimed"
    assert rows["grants"] == [] and rows["vouchers"] == []


async def test_two_packages_at_one_price_the_till_customer_chooses(client, portal):
    shop = await c2b_shop(account_type="till", price=15, duration_seconds=3600)
    other = await add_plan(shop, price=15, duration_seconds=7200)
    body = await till_payment(shop, 15)

    [validation] = await deliveries("c2b_validation")
    assert validation["response"]["ResultCode"] == "0"  # not "no package costs this"
    assert (await money(shop.tenant_id))["payments"][0]["status"] == "unclaimed"
    response = await claim(portal, shop, body["TransID"], other)
    assert response.status_code == 200, response.text
    voucher = await voucher_row(shop, response.json()["voucher"]["code"])
    assert (voucher["plan_id"], voucher["duration_seconds"]) == (other, 7200)


async def test_another_isps_receipt_cannot_be_claimed(client, portal):
    mine = await c2b_shop(account_type="till", price=15)
    theirs = await c2b_shop(account_type="till", price=15)
    receipt = (await till_payment(theirs, 15))["TransID"]

    response = await claim(portal, mine, receipt)

    assert response.status_code == 404, response.text
    assert (await money(theirs.tenant_id))["payments"][0]["status"] == "unclaimed"
    assert (await money(mine.tenant_id))["payments"] == []


async def test_wrong_codes_lock_the_client_out_even_for_a_right_one(client, portal, app):
    shop = await c2b_shop(account_type="till", price=15)
    receipt = (await till_payment(shop, 15))["TransID"]
    limit = get_settings().claim_max_failures
    assert limit == 5

    for _ in range(limit):
        wrong = await claim(portal, shop, new_receipt())
        assert wrong.status_code == 404, wrong.text
    locked = await claim(portal, shop, receipt)

    assert locked.status_code == 429, locked.text
    assert int(locked.headers["retry-after"]) > 0
    assert (await money(shop.tenant_id))["grants"] == []
    # Another address is not locked out: the limit is per client.
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        assert (await claim(other, shop, receipt)).status_code == 200


# ------------------------------------------------------------------ 6. forged and malformed


@pytest.mark.parametrize("kind", ["c2b/confirm", "c2b/validate"])
async def test_forged_posts_grant_nothing_and_are_recorded(client, app, kind):
    shop = await make_shop(price=20)
    body = c2b_body(amount=20, ref=local_msisdn())

    wrong_token = await client.post(shop.hook(kind, token=secrets.token_urlsafe(24)), json=body)
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as outsider:
        unlisted = await outsider.post(shop.hook(kind), json=body)

    assert (wrong_token.status_code, unlisted.status_code) == (403, 403)
    forged = await events(shop.tenant_id)
    assert [(e["verdict"], e["reason"]) for e in forged] == [
        ("forged", "wrong URL token"),
        ("forged", "source 10.9.9.9 is not an allowlisted address"),
    ]
    assert json.loads(forged[0]["body"]) == body
    assert (await money(shop.tenant_id))["payments"] == []
    if kind == "c2b/confirm":  # the same body through the real door does grant
        await confirm(client, shop, body)
        assert len((await money(shop.tenant_id))["grants"]) == 1


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"TransID": "RKL51ZDR4F", "TransAmount": "20.00"', "not JSON"),
        (json.dumps(c2b_body(amount=20) | {"TransID": "not a receipt"}).encode(), "TransID"),
        (json.dumps(c2b_body(amount=20) | {"TransAmount": "-5"}).encode(), "TransAmount"),
    ],
)
async def test_malformed_confirmations_are_400_and_recorded(client, raw, words):
    shop = await make_shop(price=20)

    response = await client.post(
        shop.hook("c2b/confirm"), content=raw, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400, response.text
    [event] = await events(shop.tenant_id)
    assert event["verdict"] == "malformed" and words in event["reason"]
    assert event["body"] == raw.decode()
    assert (await money(shop.tenant_id))["payments"] == []


# ------------------------------------------------------------------ 7. through FreeRADIUS


async def free_loopback() -> str:
    """A loopback address no router has (127.200-249.x.y: the RADIUS tests draw below 200)."""
    taken = {r["ip"] for r in await sql("SELECT host(ip_address) AS ip FROM router")}
    while True:
        b, c, d = random.randrange(200, 250), random.randrange(1, 255), random.randrange(1, 255)
        address = f"127.{b}.{c}.{d}"
        if address not in taken:
            return address


async def test_a_voucher_bought_by_c2b_logs_in_through_freeradius(client):
    shop = await c2b_shop(price=30, duration_seconds=5400, upload_kbps=1000, download_kbps=5000)
    address, secret = await free_loopback(), secrets.token_urlsafe(18)
    await add_router(shop, address, secret)
    warm_up(address, secret)
    msisdn = phone()

    await register(shop)
    await simulate(amount=30, ref="0" + msisdn[3:])
    [confirmation] = await deliveries("c2b_confirmation")
    assert confirmation["status_code"] == 200, confirmation
    [voucher] = (await money(shop.tenant_id))["vouchers"]
    assert voucher["phone"] == msisdn

    reply = send("auth", hotspot_request(voucher["code"]), src=address, secret=secret)

    assert reply.code == "Access-Accept", reply.output
    assert reply["Session-Timeout"] == "5400" and reply["Mikrotik-Rate-Limit"] == "1M/5M"


# ------------------------------------------------------------------ 8. STK and C2B together


async def test_c2b_echo_of_a_paid_stk_purchase_grants_nothing_more(client):
    shop = await make_shop(price=20)
    started = (await buy(client, shop, phone())).json()
    paid = await wait_status(client, shop, started["id"], "paid")
    row = await purchase_row(started["id"])

    await confirm(client, shop, c2b_body(amount=20, ref=row["reference"], receipt=paid["receipt"]))

    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert rows["payments"][0]["source"] == "stk"
    verdicts = [(e["kind"], e["verdict"]) for e in await events(shop.tenant_id)]
    assert verdicts == [("stk_callback", "ok"), ("c2b_confirmation", "duplicate")]


async def test_c2b_first_then_the_stk_callback_grants_once(client):
    shop = await make_shop(price=20)
    msisdn = phone()
    await fake("POST", "scenario", json={"phone": msisdn, "scenario": "no_callback"})
    started = (await buy(client, shop, msisdn)).json()
    row = await purchase_row(started["id"])
    receipt = new_receipt()

    await confirm(client, shop, c2b_body(amount=20, ref=row["reference"], receipt=receipt))
    paid = await wait_status(client, shop, started["id"], "paid")
    late = stk_body(row["checkout_request_id"], amount=20, receipt=receipt, phone=msisdn)
    assert (await client.post(shop.hook(), json=late)).status_code == 200

    assert paid["receipt"] == receipt and paid["voucher"]["code"]
    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 1 and len(rows["grants"]) == 1
    assert rows["vouchers"][0]["phone"] == msisdn
    verdicts = [(e["kind"], e["verdict"]) for e in await events(shop.tenant_id)]
    assert verdicts == [("c2b_confirmation", "ok"), ("stk_callback", "duplicate")]


async def test_a_second_payment_naming_a_paid_purchase_is_held_not_dropped(client):
    shop = await make_shop(price=20)
    started = (await buy(client, shop, phone())).json()
    await wait_status(client, shop, started["id"], "paid")
    row = await purchase_row(started["id"])
    again = c2b_body(amount=20, ref=row["reference"])  # another receipt: another payment

    await confirm(client, shop, again)

    rows = await money(shop.tenant_id)
    assert len(rows["payments"]) == 2 and len(rows["grants"]) == 1
    second = rows["payments"][1]
    assert (second["receipt"], second["status"]) == (again["TransID"], "held")
    assert "already paid" in second["note"]
