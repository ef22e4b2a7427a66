"""Finding vouchers: by code, by the customer's phone (the voucher's own, or one that paid for
or extended it) or by M-Pesa receipt, in keyset pages; on GET /api/v1/vouchers (q, before) and
the dashboard's vouchers page (the search box, and its results alone for htmx). Bad searches
are a 4xx with what to type, never a 500."""

from __future__ import annotations

import re
import secrets
from contextlib import asynccontextmanager

import pytest

from tests.factories import (
    PASSWORD,
    make_plan,
    make_sale,
    make_staff,
    make_tenant,
    make_user_headers,
    make_voucher,
)
from tests.test_admin_pages import _form
from tests.test_staff_login import _from

URL = "/api/v1/vouchers"


def _phone() -> str:
    return "2547" + str(secrets.randbelow(90_000_000) + 10_000_000)


def _receipt() -> str:
    return "T" + secrets.token_hex(5).upper()[:9]


async def _shop(client):
    """An ISP with a voucher sold to one phone and extended from another (each its own
    receipt), a printed voucher, and the same phone buying at another ISP."""
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    buyer, friend = _phone(), _phone()
    bought, topped = _receipt(), _receipt()
    sold = await make_sale(plan=plan, phone=buyer, receipt=bought)
    await make_sale(plan=plan, phone=friend, receipt=topped, extends=sold)
    printed = (await make_voucher(plan=plan)).code
    elsewhere = await make_plan(tenant=await make_tenant())
    foreign = await make_sale(plan=elsewhere, phone=buyer, receipt=_receipt())
    return headers, {
        "sold": sold, "printed": printed, "foreign": foreign, "buyer": buyer,
        "friend": friend, "bought": bought, "topped": topped,
    }  # fmt: skip


async def _codes(client, headers, **params) -> list[str]:
    response = await client.get(URL, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return [v["code"] for v in response.json()]


async def test_the_api_finds_a_voucher_by_code_phone_or_receipt(client):
    headers, s = await _shop(client)
    spaced = "0" + s["friend"][3:6] + " " + s["friend"][6:]  # the extension's phone: 0712 345678
    found = [
        s["sold"].lower(),
        f" {s['sold']} ",
        "0" + s["buyer"][3:],
        s["buyer"],
        "+" + s["buyer"],
    ]
    for q in [*found, spaced, s["bought"], s["topped"].lower()]:
        assert await _codes(client, headers, q=q) == [s["sold"]], q
    assert await _codes(client, headers, q=s["printed"]) == [s["printed"]]
    # The same phone at another ISP, or a receipt nobody paid with, finds nothing here.
    assert await _codes(client, headers, q=s["foreign"]) == []
    assert await _codes(client, headers, q="0700000001") == []
    assert await _codes(client, headers, q="XXXX99999Z") == []


async def test_the_api_pages_its_results_by_keyset(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    buyer = _phone()
    codes = [await make_sale(plan=plan, phone=buyer, receipt=_receipt()) for _ in range(5)]
    first = (await client.get(URL, headers=headers, params={"q": buyer, "limit": 2})).json()
    seen = [v["code"] for v in first]
    while len(first) == 2:
        params = {"q": buyer, "limit": 2, "before": first[-1]["id"]}
        first = (await client.get(URL, headers=headers, params=params)).json()
        seen += [v["code"] for v in first]
    assert seen == codes[::-1]  # newest first, each once
    everything = await _codes(client, headers, limit=3)
    after = (await client.get(URL, headers=headers, params={"limit": 3})).json()[-1]["id"]
    rest = await _codes(client, headers, limit=3, before=after)
    assert everything + rest == codes[::-1]
    assert await _codes(client, headers, before=2**62) == []  # no such voucher: the end


@pytest.mark.parametrize("q", ["x" * 41, "!!!", "hello world", "0712", "07-12", "ABC", "<script>"])
async def test_a_search_that_can_be_nothing_is_422_with_what_to_type(client, q):
    _, headers = await make_user_headers(client)
    response = await client.get(URL, headers=headers, params={"q": q})
    assert response.status_code == 422, response.text
    assert "phone" in response.text or "at most 40" in response.text


# ------------------------------------------------------------------ the dashboard's page


@asynccontextmanager
async def _signed_in(app, tenant):
    """A client signed in as the ISP's owner, and the ISP's host header."""
    owner = await make_staff(tenant=tenant, role="owner")
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": owner.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        yield client, host


async def test_the_vouchers_page_searches_and_pages_on(app):
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    buyer, receipt = _phone(), _receipt()
    sold = await make_sale(plan=plan, phone=buyer, receipt=receipt)
    printed = [(await make_voucher(plan=plan)).code for _ in range(31)]
    async with _signed_in(app, tenant) as (client, host):
        for q in ("0" + buyer[3:], receipt, sold.lower()):
            page = await client.get("/admin/vouchers", params={"q": q}, headers=host)
            assert page.status_code == 200
            assert re.findall(r'data-code="(\w+)"', page.text) == [sold], q
            assert f'value="{q}"' in page.text  # the box keeps what was typed
        latest = await client.get("/admin/vouchers", headers=host)
        listed = re.findall(r'data-code="(\w+)"', latest.text)
        assert listed == printed[::-1][:30]
        older = re.search(r'href="/admin/vouchers\?(before=\d+)" id="older"', latest.text)
        assert older, "a full page links to the next"
        rest = await client.get(f"/admin/vouchers?{older.group(1)}", headers=host)
        assert re.findall(r'data-code="(\w+)"', rest.text) == [printed[0], sold]
        assert 'id="older"' not in rest.text


async def test_as_one_types_htmx_gets_only_the_results(app):
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    receipt = _receipt()
    sold = await make_sale(plan=plan, phone=_phone(), receipt=receipt)
    async with _signed_in(app, tenant) as (client, host):
        htmx = host | {"hx-request": "true"}
        part = await client.get("/admin/vouchers", params={"q": receipt}, headers=htmx)
        assert part.status_code == 200
        assert part.text.lstrip().startswith('<div id="voucher-results"')
        assert "<html" not in part.text and f'data-code="{sold}"' in part.text
        # Halfway through typing: what to type, in the results' place.
        part = await client.get("/admin/vouchers", params={"q": "07"}, headers=htmx)
        assert part.status_code == 200 and 'id="search-problem"' in part.text
        assert "phone" in part.text and "data-code" not in part.text


@pytest.mark.parametrize(
    "query", ["q=" + "7" * 41, "q=%00", "q=!!!", "q=%F0%9F%98%80", "before=x", "before=-1",
              "before=99999999999999999999", "q=ABC&before=1"],
)  # fmt: skip
async def test_a_bad_search_on_the_page_says_what_to_fix(app, query):
    tenant = await make_tenant()
    async with _signed_in(app, tenant) as (client, host):
        page = await client.get(f"/admin/vouchers?{query}", headers=host)
        assert 400 <= page.status_code < 500, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert re.search(r"phone|NUL|at most|greater than|less than|integer", page.text), page.text


async def test_another_isps_voucher_is_not_found_by_its_phone_or_receipt(app):
    tenant = await make_tenant()
    elsewhere = await make_plan(tenant=await make_tenant())
    buyer, receipt = _phone(), _receipt()
    foreign = await make_sale(plan=elsewhere, phone=buyer, receipt=receipt)
    async with _signed_in(app, tenant) as (client, host):
        for q in (buyer, receipt, foreign):
            page = await client.get("/admin/vouchers", params={"q": q}, headers=host)
            assert page.status_code == 200 and "data-code" not in page.text, q
            assert 'id="no-vouchers"' in page.text
