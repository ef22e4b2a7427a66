"""Staff resolving money that bought nothing (api/payments/resolve.py): a held or unclaimed C2B
payment gets the package it paid for, as a new voucher or more time on a live one, exactly once
(even when two people press at once), with the reason on the payment and in the audit log; a
package of another price, an unknown or another ISP's receipt, a role without
payments:resolve, and malformed input change nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from api.db import unit_of_work
from api.payments import ledger
from api.payments.stk import new_reference
from api.security import get_redis
from tests.factories import make_user_headers
from tests.payshop import Shop, add_plan, make_shop, money, new_receipt, shop_tenant
from tests.radius.conftest import sql
from tests.test_payment_c2b import batch_voucher, c2b_body, confirm, voucher_row

URL = "/api/v1/payments/resolve"


async def held_payment(client: httpx.AsyncClient, shop: Shop) -> dict[str, Any]:
    """20 shillings paid to a voucher that has run out: held for staff (c2b.py)."""
    spent = await batch_voucher(shop, in_use=True)
    await sql("UPDATE voucher SET expires_at = now() - interval '1 minute' WHERE id = :v",
              v=spent["id"])  # fmt: skip
    body = c2b_body(amount=shop.price, ref=spent["code"], receipt=new_receipt())
    await confirm(client, shop, body)
    [payment] = (await money(shop.tenant_id))["payments"]
    assert payment["status"] == "held"
    return payment


async def staff(client: httpx.AsyncClient, shop: Shop, role: str = "owner") -> dict[str, str]:
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop), role=role)
    return headers


async def audit_rows(tenant_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in await sql(
        "SELECT * FROM audit_event WHERE tenant_id = :t AND action = 'payment.resolve'",
        t=tenant_id,
    )]  # fmt: skip


async def test_a_held_payment_becomes_a_new_voucher_once_with_its_reason(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop)
    reason = "Customer called: paid to an old voucher"
    body = {"receipt": payment["receipt"].lower(), "plan_id": shop.plan_id,
            "phone": "0712 345 678", "reason": reason}  # fmt: skip

    done = await client.post(URL, json=body, headers=headers)
    assert done.status_code == 200, done.text
    code = done.json()["voucher"]["code"]
    assert done.json()["voucher"]["extended"] is False
    rows = await money(shop.tenant_id)
    [paid], [grant] = rows["payments"], rows["grants"]
    voucher = next(v for v in rows["vouchers"] if v["code"] == code)
    assert paid["status"] == "granted" and "paid to an old voucher" in paid["note"]
    assert (grant["payment_id"], grant["voucher_id"]) == (paid["id"], voucher["id"])
    assert voucher["phone"] == "254712345678"
    [entry] = await audit_rows(shop.tenant_id)
    assert entry["object_id"] == str(paid["id"]) and entry["actor_id"] is not None
    assert entry["details"]["reason"] == body["reason"] and entry["details"]["voucher"] == code
    assert entry["changes"] == {"status": {"before": "held", "after": "granted"}}

    again = await client.post(URL, json=body, headers=headers)
    assert again.status_code == 409, again.text
    assert len((await money(shop.tenant_id))["grants"]) == 1
    async with unit_of_work() as session:
        assert (await ledger.check(session, shop.tenant_id))["total"] == 0


async def test_it_can_extend_a_live_voucher_instead(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    live = await batch_voucher(shop, in_use=True)
    headers = await staff(client, shop)
    reason = "Top up the voucher she uses now"
    body = {"receipt": payment["receipt"], "plan_id": shop.plan_id,
            "voucher_code": live["code"].lower(), "reason": reason}  # fmt: skip
    done = await client.post(URL, json=body, headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["voucher"] == {"code": live["code"], "extended": True}
    after = await voucher_row(shop, live["code"])
    assert after["duration_seconds"] == live["duration_seconds"] + 3600
    [grant] = (await money(shop.tenant_id))["grants"]
    assert grant["kind"] == "extend" and grant["voucher_id"] == live["id"]


async def test_two_people_resolving_at_once_grant_once(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    first, second = await staff(client, shop), await staff(client, shop, "admin")
    body = {"receipt": payment["receipt"], "plan_id": shop.plan_id, "reason": "Customer called"}
    answers = await asyncio.gather(
        client.post(URL, json=body, headers=first), client.post(URL, json=body, headers=second)
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert len((await money(shop.tenant_id))["grants"]) == 1
    assert len(await audit_rows(shop.tenant_id)) == 1


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"plan_id": "other-price"}, 422, "choose a package with that price"),
        ({"receipt": "QZZ0000000"}, 404, "No payment"),
        ({"plan_id": 2_000_000_000}, 404, "No such package"),
        ({"voucher_code": "HKPQRSTW"}, 404, "No live voucher"),
        ({"voucher_code": "OIL0L1"}, 422, "voucher_code"),
        ({"phone": "0812345678"}, 422, "phone"),
        ({"reason": "ok"}, 422, "reason"),
        ({"reason": None}, 422, "reason"),
        ({"receipt": "A" * 300}, 422, "receipt"),
        ({"extra": 1}, 422, "extra"),
    ],
)
async def test_refusals_say_why_and_change_nothing(client, change, status, words):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop)
    if change.get("plan_id") == "other-price":
        change = {"plan_id": await add_plan(shop, price=50)}
    body = {"receipt": payment["receipt"], "plan_id": shop.plan_id, "reason": "Customer called"}
    response = await client.post(URL, json=body | change, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.text
    rows = await money(shop.tenant_id)
    assert [p["status"] for p in rows["payments"]] == ["held"] and rows["grants"] == []
    assert await audit_rows(shop.tenant_id) == []


@pytest.mark.parametrize("role", ["support", "tech"])
async def test_roles_without_payments_resolve_are_refused(client, role):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    body = {"receipt": payment["receipt"], "plan_id": shop.plan_id, "reason": "Customer called"}
    response = await client.post(URL, json=body, headers=await staff(client, shop, role))
    assert response.status_code == 403, response.text
    assert (await money(shop.tenant_id))["grants"] == []


async def test_another_isps_receipt_is_not_found_and_untouched(client):
    shop, other = await make_shop(price=20), await make_shop(price=20)
    payment = await held_payment(client, shop)
    body = {"receipt": payment["receipt"], "plan_id": other.plan_id, "reason": "Customer called"}
    response = await client.post(URL, json=body, headers=await staff(client, other))
    assert response.status_code == 404, response.text
    assert (await money(shop.tenant_id))["payments"][0]["status"] == "held"


# ------------------------------------------------------------------ the dashboard's page


async def test_the_payments_page_finds_waiting_money_and_resolves_it(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop) | {"host": f"{shop.slug}.mnetifi.com"}
    waiting = await client.get("/admin/payments?show=waiting", headers=headers)
    assert waiting.status_code == 200 and payment["receipt"] in waiting.text
    assert "Give this package" in waiting.text
    found = await client.get(f"/admin/payments?find={payment['receipt'].lower()}", headers=headers)
    assert payment["receipt"] in found.text
    nothing = await client.get("/admin/payments?find=QZZ0000000", headers=headers)
    assert payment["receipt"] not in nothing.text and "No payment matches" in nothing.text
    bad = await client.get("/admin/payments?find=%3Cscript%3E", headers=headers)
    assert bad.status_code == 422 and "Search by an M-Pesa code" in bad.text
    assert "<script>" not in bad.text

    form = {"receipt": payment["receipt"], "plan_id": str(shop.plan_id), "phone": "0812",
            "reason": "Customer called from the shop"}  # fmt: skip
    refused = await client.post("/admin/payments/resolve", data=form, headers=headers)
    assert refused.status_code == 422 and "phone" in refused.text
    assert 'value="Customer called from the shop"' in refused.text  # what was typed stays
    assert (await money(shop.tenant_id))["grants"] == []

    done = await client.post(
        "/admin/payments/resolve", data=form | {"phone": "0712345678"}, headers=headers
    )
    assert done.status_code == 303 and "flash=resolved" in done.headers["location"]
    rows = await money(shop.tenant_id)
    assert [p["status"] for p in rows["payments"]] == ["granted"] and len(rows["grants"]) == 1
    shown = await client.get(done.headers["location"], headers=headers)
    assert "Resolved" in shown.text and rows["vouchers"][-1]["code"] in shown.text


async def test_support_reads_payments_but_cannot_resolve_them(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop, "support") | {"host": f"{shop.slug}.mnetifi.com"}
    page = await client.get("/admin/payments?show=waiting", headers=headers)
    assert page.status_code == 200 and payment["receipt"] in page.text
    assert "Give this package" not in page.text
    form = {"receipt": payment["receipt"], "plan_id": str(shop.plan_id), "reason": "please"}
    refused = await client.post("/admin/payments/resolve", data=form, headers=headers)
    assert refused.status_code == 403
    assert (await money(shop.tenant_id))["grants"] == []


async def test_the_api_lists_waiting_money_and_finds_by_receipt_or_phone(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop)
    waiting = await client.get("/api/v1/payments?waiting=true", headers=headers)
    assert [p["receipt"] for p in waiting.json()] == [payment["receipt"]]
    by_receipt = await client.get(
        f"/api/v1/payments?receipt={payment['receipt'].lower()}", headers=headers
    )
    assert [p["id"] for p in by_receipt.json()] == [payment["id"]]
    bad = await client.get("/api/v1/payments?phone=0712", headers=headers)
    assert bad.status_code == 422


async def test_a_disputed_purchase_shows_on_home_and_payments_pages(client):
    """Called paid by its callback, then not confirmed by STK Query: shown for the ISP to check."""
    shop = await make_shop(price=20)
    headers = await staff(client, shop) | {"host": f"{shop.slug}.mnetifi.com"}
    calm = await client.get("/admin/", headers=headers)
    assert "not confirmed by M-Pesa" not in calm.text
    receipt = new_receipt()
    await sql(
        "INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference, "
        "checkout_request_id, merchant_request_id, status, receipt, query_result_code) "
        "VALUES (:t, :p, '254712345678', 20, 'paybill', :ref, :c, :m, 'paid', :r, '1032')",
        t=shop.tenant_id, p=shop.plan_id, ref=new_reference(), c="ws_CO_" + receipt,
        m="m-" + receipt, r=receipt,
    )  # fmt: skip
    # The money figures are shared for a few seconds (api/admin/live.py): start afresh.
    await get_redis().delete(f"dashboard:takings:{shop.tenant_id}")
    try:
        home = await client.get("/admin/", headers=headers)
        assert "1 paid purchases were not confirmed by M-Pesa" in home.text
        page = await client.get("/admin/payments", headers=headers)
        assert 'id="disputed"' in page.text and receipt in page.text and "1032" in page.text
    finally:  # a paid purchase without its payment would be a money-check violation later
        await sql("DELETE FROM stk_request WHERE receipt = :r", r=receipt)


async def test_an_unclaimed_till_payment_is_resolved_into_a_voucher(client):
    """A Buy Goods payment names no account and its payer is masked: it waits unclaimed until
    the customer enters the code on the portal, or staff resolve it when the customer calls."""
    shop = await make_shop(price=20)
    receipt = new_receipt()
    await sql("INSERT INTO payment (tenant_id, source, receipt, amount, phone, status) "
              "VALUES (:t, 'c2b', :r, 20, '2547 ***** 126', 'unclaimed')",
              t=shop.tenant_id, r=receipt)  # fmt: skip
    headers = await staff(client, shop)
    body = {"receipt": receipt, "plan_id": shop.plan_id, "phone": "0712345678",
            "reason": "Customer called with the SMS from M-Pesa"}  # fmt: skip
    done = await client.post(URL, json=body, headers=headers)
    assert done.status_code == 200, done.text
    [paid] = (await money(shop.tenant_id))["payments"]
    assert paid["status"] == "granted"
    [voucher] = await sql("SELECT * FROM voucher WHERE code = :c", c=done.json()["voucher"]["code"])
    assert voucher["phone"] == "254712345678"  # the masked payer's number is not kept
