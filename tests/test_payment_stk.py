"""Buying a package by STK push, end to end against the fake Daraja: the push as Daraja wants
it, every scripted outcome, duplicates, late and missing callbacks, debounce, repurchase, and
the live status stream. Callbacks travel fake -> the stack's API process over HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import get_engine, unit_of_work
from api.payments import ledger, repository, tasks
from api.payments.stk import new_reference
from deploy.fakes.daraja_state import DEMO_STORE, DEMO_TILL, SANDBOX_SHORTCODE
from tests.payshop import (
    buy,
    events,
    fake,
    make_shop,
    money,
    new_receipt,
    phone,
    purchase_row,
    wait_callbacks,
    wait_status,
)
from tests.radius.conftest import sql


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def _due(public_id: str, **changes: str) -> None:
    """Makes a purchase due for the verification worker now (optionally back-dating it)."""
    sets = ", ".join(["next_query_at = now()", *(f"{k} = {v}" for k, v in changes.items())])
    await sql(f"UPDATE stk_request SET {sets} WHERE public_id = CAST(:p AS uuid)", p=public_id)  # noqa: S608


async def _pushes(msisdn: str) -> list[dict]:
    """Pushes the fake accepted for this phone (a push refused for a stale token is retried)."""
    return [
        r
        for r in await fake("GET", "requests")
        if r["path"].endswith("/stkpush/v1/processrequest")
        and r["status_code"] == 200
        and (r.get("body") or {}).get("PhoneNumber") == msisdn
    ]


async def test_success_grants_one_new_voucher(client):
    shop = await make_shop(price=20)
    msisdn = phone()
    response = await buy(client, shop, "0" + msisdn[3:])
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "pending" and started["amount"] == 20
    paid = await wait_status(client, shop, started["id"], "paid")
    code = paid["voucher"]["code"]
    assert len(code) == 8 and paid["voucher"]["extended"] is False

    ledger_rows = await money(shop.tenant_id)
    assert len(ledger_rows["payments"]) == 1 and len(ledger_rows["grants"]) == 1
    payment = ledger_rows["payments"][0]
    assert payment["status"] == "granted" and payment["amount"] == 20
    assert payment["receipt"] == paid["receipt"] and payment["phone"] == msisdn
    assert ledger_rows["vouchers"][0]["code"] == code
    assert ledger_rows["vouchers"][0]["phone"] == msisdn
    [event] = await events(shop.tenant_id)
    assert (event["verdict"], event["kind"]) == ("ok", "stk_callback")
    assert json.loads(event["body"])["Body"]["stkCallback"]["CheckoutRequestID"]


async def test_paybill_push_is_what_daraja_expects(client):
    shop = await make_shop(price=35)
    msisdn = phone()
    started = (await buy(client, shop, msisdn)).json()
    [push] = await _pushes(msisdn)
    body = push["body"]
    assert body["TransactionType"] == "CustomerPayBillOnline"
    assert body["BusinessShortCode"] == body["PartyB"] == SANDBOX_SHORTCODE
    assert body["Amount"] == 35 and body["PartyA"] == msisdn
    row = await purchase_row(started["id"])
    assert body["AccountReference"] == row["reference"] and len(row["reference"]) <= 12
    url = body["CallBackURL"].lower()
    assert f"/hooks/{shop.tenant_id}/" in url and "mpesa" not in url and "query" not in url
    assert shop.token.lower() in url


async def test_till_push_carries_buy_goods_and_the_till(client):
    shop = await make_shop(account_type="till", price=15)
    msisdn = phone()
    started = (await buy(client, shop, msisdn)).json()
    [push] = await _pushes(msisdn)
    body = push["body"]
    assert body["TransactionType"] == "CustomerBuyGoodsOnline"
    assert (body["BusinessShortCode"], body["PartyB"]) == (DEMO_STORE, DEMO_TILL)
    await wait_status(client, shop, started["id"], "paid")


@pytest.mark.parametrize(
    ("magic", "code", "words"),
    [
        ("254700000001", "1032", "cancelled"),
        ("254700000002", "1037", "could not reach your phone"),
        ("254700000003", "2001", "PIN was wrong"),
        ("254700000004", "1", "balance is not enough"),
        ("254700000005", "SFC_IC0003", "set up wrongly"),
    ],
)
async def test_failures_show_a_reason_and_grant_nothing(client, magic, code, words):
    shop = await make_shop()
    started = (await buy(client, shop, magic)).json()
    failed = await wait_status(client, shop, started["id"], "failed")
    assert failed["result_code"] == code and words in failed["reason"]
    assert failed["voucher"] is None
    ledger_rows = await money(shop.tenant_id)
    assert ledger_rows["payments"] == [] and ledger_rows["grants"] == []
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["ok"]


async def test_a_cancelled_payment_can_be_retried_at_once(client):
    shop = await make_shop()
    msisdn = phone()
    await fake("POST", "scenario", json={"phone": msisdn, "scenario": "user_cancel", "once": True})
    first = (await buy(client, shop, msisdn)).json()
    await wait_status(client, shop, first["id"], "failed")
    second = (await buy(client, shop, msisdn)).json()
    assert second["id"] != first["id"]
    await wait_status(client, shop, second["id"], "paid")
    assert len((await money(shop.tenant_id))["grants"]) == 1


@pytest.mark.parametrize("magic", ["254700000006", "254700000007"])
async def test_duplicate_callbacks_grant_once(client, magic):
    """The fake delivers the success 3 times: one after the other, or all at once."""
    shop = await make_shop()
    started = (await buy(client, shop, magic)).json()
    row = await purchase_row(started["id"])
    delivered = await wait_callbacks(row["checkout_request_id"], 3)
    assert all(d["status_code"] == 200 for d in delivered)
    ledger_rows = await money(shop.tenant_id)
    assert len(ledger_rows["payments"]) == 1
    assert len(ledger_rows["grants"]) == 1 and len(ledger_rows["vouchers"]) == 1
    verdicts = sorted(e["verdict"] for e in await events(shop.tenant_id))
    assert verdicts == ["duplicate", "duplicate", "ok"]


async def test_no_callback_is_settled_by_stk_query(client):
    shop = await make_shop()
    started = (await buy(client, shop, "254700000009")).json()
    await asyncio.sleep(0.3)  # the fake completes the payment but never calls back
    assert (await purchase_row(started["id"]))["status"] == "pending"
    await _due(started["id"])
    await tasks.verify_due()
    paid = await wait_status(client, shop, started["id"], "paid")
    assert paid["voucher"]["code"]
    [payment] = (await money(shop.tenant_id))["payments"]
    assert payment["receipt"] is None and payment["stk_request_id"] is not None


async def test_late_callback_after_query_grant_attaches_the_receipt_only(client):
    shop = await make_shop()
    started = (await buy(client, shop, "254700000008")).json()
    await asyncio.sleep(0.3)
    await _due(started["id"])
    await tasks.verify_due()
    await wait_status(client, shop, started["id"], "paid")
    row = await purchase_row(started["id"])
    [late] = await wait_callbacks(row["checkout_request_id"], 1)  # about 3 s later
    assert late["status_code"] == 200
    ledger_rows = await money(shop.tenant_id)
    assert len(ledger_rows["payments"]) == 1 and len(ledger_rows["grants"]) == 1
    receipt = late["body"]["Body"]["stkCallback"]["CallbackMetadata"]["Item"][1]["Value"]
    assert ledger_rows["payments"][0]["receipt"] == receipt
    assert [e["verdict"] for e in await events(shop.tenant_id)] == ["duplicate"]


async def test_pending_query_waits_and_a_callback_after_giving_up_still_grants(client):
    shop = await make_shop()
    msisdn = phone()
    await fake(
        "POST", "scenario",
        json={"phone": msisdn, "scenario": "success", "params": {"delay_ms": 2500}},
    )  # fmt: skip
    started = (await buy(client, shop, msisdn)).json()
    await _due(started["id"])
    await tasks.verify_due()  # "being processed": wait
    assert (await purchase_row(started["id"]))["status"] == "pending"

    await _due(started["id"], created_at="now() - interval '11 minutes'")
    await tasks.verify_due()  # still no answer, and older than stk_give_up_after
    failed = await wait_status(client, shop, started["id"], "failed")
    assert failed["result_code"] == "no_answer" and "M-Pesa code" in failed["reason"]

    paid = await wait_status(client, shop, started["id"], "paid", wait=10)  # the late callback
    assert paid["voucher"]["code"]
    assert len((await money(shop.tenant_id))["grants"]) == 1


async def test_a_query_contradicting_a_paid_callback_never_revokes(client):
    shop = await make_shop()
    started = (await buy(client, shop, "254700000010")).json()
    paid = await wait_status(client, shop, started["id"], "paid")
    await _due(started["id"])
    await tasks.verify_due()  # (or the stack's worker did it just before: same result)
    row = await purchase_row(started["id"])
    assert (row["status"], row["query_result_code"]) == ("paid", "1032")
    again = await wait_status(client, shop, started["id"], "paid")
    assert again["voucher"] == paid["voucher"]
    async with unit_of_work() as session:
        report = await ledger.check(session, shop.tenant_id)
    assert report["total"] == 0 and report["pending_money"]["disputed"] == 1


async def test_a_failure_callback_after_success_never_revokes(client):
    shop = await make_shop()
    started = (await buy(client, shop, phone())).json()
    await wait_status(client, shop, started["id"], "paid")
    row = await purchase_row(started["id"])
    from tests.payshop import stk_body  # noqa: PLC0415

    body = stk_body(row["checkout_request_id"], code=1032)
    response = await client.post(shop.hook(), json=body)
    assert response.status_code == 200
    assert (await purchase_row(started["id"]))["status"] == "paid"
    assert [e["verdict"] for e in await events(shop.tenant_id)][-1] == "duplicate"
    assert len((await money(shop.tenant_id))["grants"]) == 1


async def test_repeat_taps_get_the_open_push_back(client):
    shop = await make_shop()
    other_plan = (await sql(
        "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, download_kbps) "
        "VALUES (:t, 'other', 50, 7200, 1000, 1000) RETURNING id", t=shop.tenant_id,
    ))[0]["id"]  # fmt: skip
    msisdn = phone()
    await fake(
        "POST", "scenario",
        json={"phone": msisdn, "scenario": "success", "params": {"delay_ms": 1500}},
    )  # fmt: skip
    first, second = await asyncio.gather(buy(client, shop, msisdn), buy(client, shop, msisdn))
    codes = sorted([first.status_code, second.status_code])
    # Both taps at once: one pushes, the other is told a push is on its way (or gets it back).
    assert codes in ([202, 202], [202, 429]), (first.text, second.text)
    ids = {r.json()["id"] for r in (first, second) if r.status_code == 202}
    third = await buy(client, shop, msisdn)
    assert len(ids) == 1 and third.status_code == 202 and third.json()["id"] in ids
    assert len(await _pushes(msisdn)) == 1
    conflict = await buy(client, shop, msisdn, plan_id=other_plan)
    assert conflict.status_code == 409 and "already open" in conflict.json()["detail"]
    await wait_status(client, shop, third.json()["id"], "paid")


async def test_pushes_to_one_phone_are_limited(client):
    shop = await make_shop()
    msisdn = phone()
    await fake("POST", "scenario", json={"phone": msisdn, "scenario": "user_cancel"})
    for _ in range(5):
        started = (await buy(client, shop, msisdn)).json()
        await wait_status(client, shop, started["id"], "failed")
    response = await buy(client, shop, msisdn)
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    assert len(await _pushes(msisdn)) == 5


async def test_repurchase_extends_the_live_voucher(client):
    shop = await make_shop(duration_seconds=3600, data_quota_bytes=10**9)
    msisdn = phone()
    first = (await buy(client, shop, msisdn)).json()
    code = (await wait_status(client, shop, first["id"], "paid"))["voucher"]["code"]
    await sql(
        "UPDATE voucher SET first_used_at = now(), expires_at = now() + interval '1 hour' "
        "WHERE code = :c AND tenant_id = :t", c=code, t=shop.tenant_id,
    )  # fmt: skip
    before = (await sql("SELECT * FROM voucher WHERE code = :c", c=code))[0]

    again = (await buy(client, shop, msisdn, voucher_code=code.lower())).json()
    paid = await wait_status(client, shop, again["id"], "paid")
    assert paid["voucher"] == {"code": code, "extended": True}
    after = (await sql("SELECT * FROM voucher WHERE code = :c", c=code))[0]
    assert after["duration_seconds"] == before["duration_seconds"] + 3600
    assert (after["expires_at"] - before["expires_at"]).total_seconds() == 3600
    assert after["data_quota_bytes"] == 2 * 10**9
    rows = await money(shop.tenant_id)
    assert [g["kind"] for g in rows["grants"]] == ["new", "extend"]
    assert len(rows["payments"]) == 2 and len(rows["vouchers"]) == 1


async def test_repurchase_of_an_expired_voucher_buys_a_new_one(client):
    shop = await make_shop()
    msisdn = phone()
    first = (await buy(client, shop, msisdn)).json()
    code = (await wait_status(client, shop, first["id"], "paid"))["voucher"]["code"]
    await sql(
        "UPDATE voucher SET first_used_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 hour' WHERE code = :c", c=code,
    )  # fmt: skip
    again = (await buy(client, shop, msisdn, voucher_code=code)).json()
    paid = await wait_status(client, shop, again["id"], "paid")
    assert paid["voucher"]["code"] != code and paid["voucher"]["extended"] is False


async def test_live_status_stream_reports_pending_then_paid(client):
    shop = await make_shop()
    msisdn = phone()
    await fake(
        "POST", "scenario",
        json={"phone": msisdn, "scenario": "success", "params": {"delay_ms": 400}},
    )  # fmt: skip
    started = (await buy(client, shop, msisdn)).json()
    seen = []
    url = f"/api/v1/portal/purchases/{started['id']}/events"
    async with client.stream("GET", url, headers=shop.host) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
    assert [s["status"] for s in seen] == ["pending", "paid"]
    assert seen[-1]["voucher"]["code"]


async def test_live_status_stream_reports_the_failure_reason(client):
    shop = await make_shop()
    started = (await buy(client, shop, "254700000001")).json()
    url = f"/api/v1/portal/purchases/{started['id']}/events"
    async with client.stream("GET", url, headers=shop.host) as stream:
        lines = [line async for line in stream.aiter_lines() if line.startswith("data: ")]
    last = json.loads(lines[-1][6:])
    assert last["status"] == "failed" and "cancelled" in last["reason"]


async def test_a_refused_push_fails_with_a_reason_not_a_500(client):
    shop = await make_shop()
    await sql(
        "UPDATE payment_settings SET shortcode = '999999' WHERE tenant_id = :t", t=shop.tenant_id
    )  # Daraja does not know this shortcode: it refuses the push
    started = await buy(client, shop, phone())
    assert started.status_code == 202, started.text
    failed = await wait_status(client, shop, started.json()["id"], "failed")
    assert failed["result_code"] == "push_refused" and "did not accept" in failed["reason"]


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"phone": "12345"}, 422, ""),
        ({"phone": "0812345678"}, 422, "Kenyan mobile"),
        ({"plan_id": 2_000_000_000}, 404, "package"),
        ({"voucher_code": "ZZZZZZ"}, 404, "voucher"),
        ({"amount": 1}, 422, ""),
    ],
)
async def test_bad_purchases_are_clear_4xx(client, change, status, words):
    shop = await make_shop()
    response = await buy(client, shop, phone(), **change)
    assert response.status_code == status, response.text
    assert words in response.text


async def test_unknown_isp_and_isp_without_mpesa(client):
    response = await client.post(
        "/api/v1/portal/purchases",
        json={"plan_id": 1, "phone": "0712345678"},
        headers={"host": "nosuchisp.mnetifi.com"},
    )
    assert response.status_code == 404 and "nosuchisp" in response.json()["detail"]
    shop = await make_shop()
    await sql("DELETE FROM payment_settings WHERE tenant_id = :t", t=shop.tenant_id)
    assert (await buy(client, shop, phone())).status_code == 503
    missing = await client.get("/api/v1/portal/purchases/not-a-uuid", headers=shop.host)
    assert missing.status_code == 404


async def test_another_isps_purchase_is_invisible(client):
    shop, other = await make_shop(), await make_shop()
    started = (await buy(client, shop, phone())).json()
    response = await client.get(f"/api/v1/portal/purchases/{started['id']}", headers=other.host)
    assert response.status_code == 404


async def test_a_promo_code_sets_what_the_push_asks_and_the_callback_must_match(client):
    shop = await make_shop(price=40)
    await sql(
        "INSERT INTO promo_code (tenant_id, code, kind, value, max_uses) "
        "VALUES (:t, 'HALF', 'percent', 50, 5)", t=shop.tenant_id,
    )  # fmt: skip
    quote = await client.post(
        "/api/v1/portal/quote", json={"plan_id": shop.plan_id, "promo_code": "half"},
        headers=shop.host,
    )  # fmt: skip
    assert quote.status_code == 200, quote.text
    assert (quote.json()["amount"], quote.json()["discount"]) == (20, 20)
    msisdn = phone()
    started = (await buy(client, shop, msisdn, promo_code="Half")).json()
    assert started["amount"] == 20
    [push] = await _pushes(msisdn)
    assert push["body"]["Amount"] == 20
    await wait_status(client, shop, started["id"], "paid")
    row = await purchase_row(started["id"])
    assert (row["amount"], row["list_price"]) == (20, 40)
    [promo] = await sql("SELECT uses FROM promo_code WHERE tenant_id = :t", t=shop.tenant_id)
    assert promo["uses"] == 1
    [payment] = (await money(shop.tenant_id))["payments"]
    assert payment["amount"] == 20
    bad = await client.post(
        "/api/v1/portal/quote", json={"plan_id": shop.plan_id, "promo_code": "NOPE"},
        headers=shop.host,
    )  # fmt: skip
    assert bad.status_code == 422
    refused = await buy(client, shop, phone(), promo_code="NOPE")
    assert refused.status_code == 422 and await _pushes(msisdn) == [push]


async def _money_rows(session: AsyncSession, request_id: int, *payment_ids: int) -> list[dict]:
    purchase = await session.execute(
        text("SELECT * FROM stk_request WHERE id = :r"), {"r": request_id}
    )
    payments = await session.execute(
        text("SELECT * FROM payment WHERE id = ANY(:p) ORDER BY id"), {"p": list(payment_ids)}
    )
    return [dict(row) for row in [*purchase.mappings(), *payments.mappings()]]


async def test_writes_by_id_on_the_money_path_stay_in_their_isp():
    """The updates of a purchase or a payment reached by its id carry the tenant condition:
    handed another ISP's tenant (a row passed along wrongly), they change nothing. In one
    transaction, rolled back: the half-made payments must not stay to break the money check."""
    shop, other = await make_shop(), await make_shop()
    async with AsyncSession(get_engine()) as session:
        try:
            await _write_by_id_in_both_isps(session, shop.tenant_id, other.tenant_id, shop.plan_id)
        finally:
            await session.rollback()


async def _write_by_id_in_both_isps(
    session: AsyncSession, tenant_id: int, wrong: int, plan_id: int
) -> None:
    values = {"plan": plan_id, "voucher": None, "phone": phone(), "amount": 20,
              "list_price": 20, "promo": None, "type": "paybill", "ref": new_reference(),
              "mac": None, "ip": None}  # fmt: skip
    request_id = (await repository.insert_request(session, tenant_id, values))["id"]
    req = await repository.lock_request(session, tenant_id, request_id=request_id)
    assert req is not None
    stk_payment = await repository.insert_stk_payment(session, req, None, None)
    c2b_payment = await repository.insert_c2b_payment(
        session,
        tenant_id,
        {"receipt": new_receipt(), "amount": Decimal(20), "currency": "KES", "phone": None,
         "ref": None, "shortcode": "600000", "paid_at": None, "status": "held", "note": "held"},
    )  # fmt: skip
    assert c2b_payment is not None
    before = await _money_rows(session, request_id, stk_payment, c2b_payment)
    receipt = new_receipt()
    await repository.push_refused(session, wrong, request_id, "refused")
    await repository.push_sent(session, wrong, request_id, "m", "c", timedelta(seconds=1))
    await repository.mark_paid(session, wrong, request_id, receipt, "paid", None)
    await repository.mark_failed(session, wrong, request_id, "1", "failed")
    await repository.request_receipt(session, wrong, request_id, receipt)
    await repository.callback_seen(session, wrong, request_id)
    await repository.stop_querying(session, wrong, request_id)
    await repository.query_answered(session, wrong, request_id, "1")
    assert await repository.payment_of_request(session, wrong, request_id) is None
    await repository.bind_payment(session, wrong, c2b_payment, request_id)
    await repository.grant_bound_payment(session, wrong, c2b_payment, request_id)
    assert await repository.attach_receipt(session, wrong, stk_payment, receipt) is None
    await repository.grant_claimed(session, wrong, c2b_payment)
    assert await _money_rows(session, request_id, stk_payment, c2b_payment) == before
    # The same calls in the right ISP do change the rows (the test above is not vacuous).
    await repository.callback_seen(session, tenant_id, request_id)
    assert await repository.payment_of_request(session, tenant_id, request_id) == stk_payment
    assert await repository.attach_receipt(session, tenant_id, stk_payment, receipt)
    await repository.grant_claimed(session, tenant_id, c2b_payment)
    after = await _money_rows(session, request_id, stk_payment, c2b_payment)
    assert after[0]["callback_at"] is not None and after[1]["receipt"] == receipt
    assert after[2]["status"] == "granted"
