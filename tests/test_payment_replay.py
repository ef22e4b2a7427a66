"""A receipt pays for one thing, once. A success callback for a pending purchase that carries
the receipt of money already on record for something else (an earlier STK purchase, a C2B
payment to a phone number) passes every door (URL token, source, shape, CheckoutRequestID,
amount, phone) but must not mark the purchase paid: it would show "paid" with no payment and
no voucher. Only the purchase's own C2B echo (same amount, naming its reference, or a till's
unnamed echo) settles it."""

from __future__ import annotations

from api.db import unit_of_work
from api.payments import ledger
from deploy.fakes.daraja_state import DEMO_TILL
from tests.payshop import Shop, events, make_shop, money, new_receipt, phone, stk_body
from tests.radius.conftest import sql
from tests.test_payment_c2b import c2b_body, confirm
from tests.test_payment_hooks import genuine, pending, status_of


async def _violations(shop: Shop) -> int:
    async with unit_of_work() as session:
        result = await ledger.check(session, shop.tenant_id)
    return int(result["total"])  # type: ignore[call-overload]


async def _refused(client, shop: Shop, req: dict, receipt: str, words: str) -> None:
    before = await money(shop.tenant_id)
    response = await client.post(shop.hook(), json=genuine(req, receipt=receipt))
    assert response.status_code == 200  # Daraja is answered; nothing is granted
    last = (await events(shop.tenant_id))[-1]
    assert last["verdict"] == "mismatch" and words in last["reason"], last
    assert receipt in last["reason"]
    assert await status_of(req) == "pending"
    after = await money(shop.tenant_id)
    assert [p["id"] for p in after["payments"]] == [p["id"] for p in before["payments"]]
    assert len(after["grants"]) == len(before["grants"])
    assert all(p["stk_request_id"] != req["id"] for p in after["payments"])
    assert await _violations(shop) == 0


async def test_the_receipt_of_a_granted_stk_purchase_cannot_pay_another(client):
    shop = await make_shop(price=20)
    first = await pending(shop)
    receipt = new_receipt()
    assert (await client.post(shop.hook(), json=genuine(first, receipt=receipt))).status_code == 200
    assert await status_of(first) == "paid"

    second = await pending(shop)
    await _refused(client, shop, second, receipt, "already paid another purchase")

    # The purchase's own money still settles it afterwards.
    assert (await client.post(shop.hook(), json=genuine(second))).status_code == 200
    assert await status_of(second) == "paid"
    assert len((await money(shop.tenant_id))["grants"]) == 2
    assert await _violations(shop) == 0


async def test_the_receipt_of_a_granted_c2b_payment_cannot_pay_a_purchase(client):
    shop = await make_shop(price=20)
    msisdn = phone()
    body = c2b_body(amount=20, ref="0" + msisdn[3:])
    await confirm(client, shop, body)
    [payment] = (await money(shop.tenant_id))["payments"]
    assert payment["status"] == "granted"

    req = await pending(shop, msisdn)
    await _refused(client, shop, req, body["TransID"], "C2B payment to account 07")


async def test_a_held_c2b_payment_for_another_account_is_not_taken_over(client):
    shop = await make_shop(price=20)
    body = c2b_body(amount=20, ref="NOBODY")  # buys nothing: held for staff
    await confirm(client, shop, body)
    assert (await money(shop.tenant_id))["payments"][0]["status"] == "held"

    req = await pending(shop)
    await _refused(client, shop, req, body["TransID"], "account NOBODY")
    assert (await money(shop.tenant_id))["payments"][0]["status"] == "held"


async def test_the_echo_of_a_different_amount_does_not_settle(client):
    shop = await make_shop(price=20)
    req = await pending(shop)
    body = c2b_body(amount=25, ref=req["reference"])  # held: the push asked for 20
    await confirm(client, shop, body)
    await _refused(client, shop, req, body["TransID"], "paid 25")


async def test_a_tills_own_unnamed_echo_still_settles_its_purchase(client):
    shop = await make_shop(account_type="till", price=15)
    body = c2b_body(amount=15, shortcode=DEMO_TILL)  # Buy Goods: no account, masked phone
    await confirm(client, shop, body)
    assert (await money(shop.tenant_id))["payments"][0]["status"] == "unclaimed"

    req = await pending(shop)
    await sql("UPDATE stk_request SET account_type = 'till' WHERE id = :i", i=req["id"])
    late = stk_body(req["checkout_request_id"], amount=15, receipt=body["TransID"],
                    phone=req["phone"])  # fmt: skip
    assert (await client.post(shop.hook(), json=late)).status_code == 200

    assert await status_of(req) == "paid"
    rows = await money(shop.tenant_id)
    [paid] = rows["payments"]
    assert (paid["status"], paid["stk_request_id"]) == ("granted", req["id"])
    assert len(rows["grants"]) == 1
    assert await _violations(shop) == 0
