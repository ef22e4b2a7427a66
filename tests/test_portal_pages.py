"""The captive portal's pages and helpers without a browser: which ISP by Host, branding,
the router context (CHAP octal escapes, login targets that cannot leak a voucher code), the
no-JavaScript voucher login, QR codes, the RouterOS pages, the PWA files, voucher status for
its holder (and guessing limits). Browser flows are in tests/browser/."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import httpx
import pytest

from api.hotspot.context import chap_hex, login_target
from tests.factories import accounting, make_router, make_user_headers, make_voucher, random_ip
from tests.payshop import make_shop, shop_plan, shop_tenant
from tests.radius.conftest import sql


@pytest.fixture
async def browser_like(app):
    """A phone on its own address (limits are per address)."""
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def test_chap_escapes_become_bytes():
    assert chap_hex("\\354") == "ec"
    assert chap_hex("\\001\\377\\100") == "01ff40"
    assert chap_hex("") == "" and chap_hex(None) == ""


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://10.5.50.1/login", True),
        ("https://192.168.88.1/login", True),
        ("http://hotspot.lan/login", True),
        ("http://wifi/login", True),
        ("http://evil.example.com/login", False),
        ("http://8.8.8.8/login", False),
        ("javascript:alert(1)", False),
        ("http://x.mnetifi.com/login", False),
        ("", False),
    ],
)
def test_only_local_routers_receive_voucher_codes(url, ok):
    assert (login_target(url) is not None) is ok


async def test_isp_by_host_with_its_packages_and_branding(client):
    shop = await make_shop(price=25)
    other = await make_shop(price=99)
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
    saved = await client.put(
        "/api/v1/branding",
        headers=headers,
        json={"display_name": "Kilimani Net", "primary_color": "#aa3300", "language": "sw",
              "support_phone": "0700 000 111"},
    )  # fmt: skip
    assert saved.status_code == 200, saved.text
    page = await client.get("/hotspotportal", headers=shop.host)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Kilimani Net" in page.text and "--brand:#aa3300" in page.text
    assert "Vifurushi vya intaneti" in page.text  # Swahili is this ISP's default
    assert "KES 25" in page.text and "KES 99" not in page.text
    english = await client.get("/hotspotportal?lang=en", headers=shop.host)
    assert "Internet packages" in english.text and english.cookies.get("lang") == "en"
    theirs = await client.get("/hotspotportal", headers=other.host)
    assert "KES 99" in theirs.text and "Kilimani" not in theirs.text


async def test_unknown_isp_gets_a_404_page(client):
    page = await client.get("/hotspotportal", headers={"host": "nobody.mnetifi.com"})
    assert page.status_code == 404 and 'id="notfound"' in page.text
    assert "not known here" in page.text
    bare = await client.get("/hotspotportal", headers={"host": "127.0.0.1:8000"})
    assert bare.status_code == 404


async def test_router_context_reaches_the_page(client):
    shop = await make_shop()
    query = (
        "?identity=hq-router&mac=aa:bb:cc:dd:ee:01&ip=10.5.50.7"
        "&link-login-only=http%3A%2F%2F10.5.50.1%2Flogin&link-orig=http%3A%2F%2Fexample.org%2F"
        "&chap-id=%5C354&chap-challenge=%5C001%5C002&error=invalid+password"
    )
    page = await client.get("/hotspotportal" + query, headers=shop.host)
    assert 'data-login="http://10.5.50.1/login"' in page.text
    assert 'data-chap-id="ec"' in page.text and 'data-chap-challenge="0102"' in page.text
    assert 'data-mac="AA:BB:CC:DD:EE:01"' in page.text and "invalid password" in page.text
    evil = await client.get(
        "/hotspotportal?link-login-only=http%3A%2F%2Fevil.example.com%2Flogin", headers=shop.host
    )
    assert 'data-login=""' in evil.text


async def test_voucher_login_without_javascript(browser_like):
    shop = await make_shop()
    voucher = await make_voucher(plan=await shop_plan(shop))
    form = {"code": voucher.code.lower(), "link-login-only": "http://10.5.50.1/login",
            "dst": "http://example.org/"}  # fmt: skip
    response = await browser_like.post("/hotspotportal/login", data=form, headers=shop.host)
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"http://10.5.50.1/login?username={voucher.code}&password={voucher.code}"
        "&dst=http%3A%2F%2Fexample.org%2F"
    )
    await sql("UPDATE voucher SET status = 'revoked' WHERE id = :v", v=voucher.id)
    refused = await browser_like.post("/hotspotportal/login", data=form, headers=shop.host)
    assert refused.status_code == 200 and "Voucher revoked" in refused.text
    public = dict(form, code="ABCDEFGH", **{"link-login-only": "http://evil.example.com/login"})
    nowhere = await browser_like.post("/hotspotportal/login", data=public, headers=shop.host)
    assert nowhere.status_code == 200 and "No such voucher" in nowhere.text
    assert "evil.example.com" not in nowhere.text
    good_code_evil_target = dict(public, code=voucher.code)
    await sql("UPDATE voucher SET status = 'unused' WHERE id = :v", v=voucher.id)
    kept = await browser_like.post(
        "/hotspotportal/login", data=good_code_evil_target, headers=shop.host
    )
    assert kept.status_code == 200 and "location" not in kept.headers


async def test_voucher_status_for_its_holder_and_guessing_is_limited(browser_like):
    shop = await make_shop(duration_seconds=7200)
    voucher = await make_voucher(plan=await shop_plan(shop))
    url = f"/api/v1/portal/vouchers/{voucher.code.lower()}"
    found = await browser_like.get(url, headers=shop.host)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["state"] == "unused" and body["seconds_left"] == 7200
    assert body["devices_online"] == 0 and body["device_limit"] == 1 and body["package"]
    other = await make_shop()
    assert (await browser_like.get(url, headers=other.host)).status_code == 404
    statuses = [
        (await browser_like.get("/api/v1/portal/vouchers/ZZZZZZZZ", headers=shop.host)).status_code
        for _ in range(10)
    ]
    assert statuses == [404] * 10
    locked = await browser_like.get(url, headers=shop.host)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0


async def test_qr_code_and_its_landing(client):
    shop = await make_shop()
    svg = await client.get("/hotspotportal/qr/ABCDEFGH.svg", headers=shop.host)
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<svg")
    assert (await client.get("/hotspotportal/qr/bad!.svg", headers=shop.host)).status_code == 404
    landing = await client.get("/hotspotportal/v/ABCDEFGH", headers=shop.host)
    assert landing.status_code == 303 and landing.headers["location"].endswith("voucher=ABCDEFGH")
    page = await client.get(landing.headers["location"], headers=shop.host)
    assert 'id="qr-login"' in page.text and 'data-code="ABCDEFGH"' in page.text


async def test_routeros_pages_point_at_this_isps_portal(client):
    shop = await make_shop()
    page = await client.get("/hotspotportal/mikrotik/login.html", headers=shop.host)
    portal = f"http://{shop.host['host']}/hotspotportal"
    assert f'action="{portal}"' in page.text
    for variable in ("$(link-login-only)", "$(chap-id)", "$(chap-challenge)", "$(mac)",
                     "$(identity)", "$(link-orig)", "$(error)"):  # fmt: skip
        assert variable in page.text
    after = await client.get("/hotspotportal/mikrotik/alogin.html", headers=shop.host)
    assert f'action="{portal}/online"' in after.text and "$(username)" in after.text
    assert (
        await client.get("/hotspotportal/mikrotik/x.html", headers=shop.host)
    ).status_code == 404


async def test_installable_and_never_caching_payment_status(client):
    shop = await make_shop()
    manifest = await client.get("/hotspotportal/manifest.webmanifest", headers=shop.host)
    body = json.loads(manifest.text)
    assert body["display"] == "standalone" and body["scope"] == "/hotspotportal/"
    assert {i["sizes"] for i in body["icons"]} == {"192x192", "512x512"}
    for icon in body["icons"]:
        png = await client.get(icon["src"], headers=shop.host)
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    worker = await client.get("/hotspotportal/sw.js", headers=shop.host)
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
    # Only /hotspotportal/static/ is ever served from the cache; the API never is.
    assert 'url.pathname.indexOf("/hotspotportal/static/") !== 0' in worker.text
    status = await client.get("/api/v1/portal/purchases/00000000-0000-0000-0000-000000000000",
                              headers=shop.host)  # fmt: skip
    assert status.status_code == 404


async def test_branding_is_validated_and_the_logo_checked(client):
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    _, headers = await make_user_headers(client, tenant=tenant)
    bad = await client.put("/api/v1/branding", headers=headers, json={"primary_color": "red"})
    assert bad.status_code == 422
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    saved = await client.put("/api/v1/branding/logo", headers=headers, content=png)
    assert saved.status_code == 200 and saved.json()["has_logo"] is True
    logo = await client.get("/hotspotportal/logo", headers=shop.host)
    assert logo.content == png and logo.headers["content-type"] == "image/png"
    assert (await client.get("/hotspotportal", headers=shop.host)).text.count("/logo") >= 1
    fake = await client.put("/api/v1/branding/logo", headers=headers, content=b"<svg onload=x>")
    assert fake.status_code == 422
    huge = await client.put("/api/v1/branding/logo", headers=headers, content=png * 700)
    assert huge.status_code == 413
    _, support = await make_user_headers(client, tenant=tenant, role="support")
    denied = await client.put("/api/v1/branding", headers=support, json={})
    assert denied.status_code == 403
    gone = await client.delete("/api/v1/branding/logo", headers=headers)
    assert gone.status_code == 204
    assert (await client.get("/hotspotportal/logo", headers=shop.host)).status_code == 404
    actions = await sql(
        "SELECT action FROM audit_event WHERE tenant_id = :t AND action LIKE 'branding%' "
        "ORDER BY id", t=shop.tenant_id,
    )  # fmt: skip
    assert [a["action"] for a in actions] == ["branding.logo", "branding.logo_delete"]


async def test_promo_code_guessing_is_limited(browser_like):
    shop = await make_shop()
    body = {"plan_id": shop.plan_id, "promo_code": "GUESS1"}
    statuses = [
        (await browser_like.post("/api/v1/portal/quote", json=body, headers=shop.host)).status_code
        for _ in range(11)
    ]
    assert statuses == [422] * 10 + [429]
    plain = await browser_like.post(
        "/api/v1/portal/quote", json={"plan_id": shop.plan_id}, headers=shop.host
    )
    assert plain.status_code == 429  # the address is locked out, not just that code


async def test_printable_sheet_has_each_code_with_its_qr(client):
    shop = await make_shop(price=30)
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
    batch = await client.post(
        "/api/v1/vouchers/batches", headers=headers, json={"plan_id": shop.plan_id, "count": 4}
    )
    batch_id, codes = batch.json()["batch_id"], batch.json()["codes"]
    sheet = await client.get(f"/api/v1/vouchers/batches/{batch_id}/sheet", headers=headers)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/html")
    assert sheet.text.count('class="card voucher"') == 4 and sheet.text.count("<svg") == 4
    assert all(code in sheet.text for code in codes) and "KES 30" in sheet.text
    assert f"{shop.slug}.mnetifi.com/hotspotportal" in sheet.text
    assert (await client.get(f"/api/v1/vouchers/batches/{batch_id}/sheet")).status_code == 401
    missing = await client.get("/api/v1/vouchers/batches/not-a-uuid/sheet", headers=headers)
    assert missing.status_code == 404


async def test_voucher_status_carries_its_own_usage_warning_and_its_networks_outages(browser_like):
    """The online page's live notices: the usage one appears with the crossing interim and goes
    with a top-up; outages are the ISP-wide ones and those at a router the voucher is online at,
    never another router's, an ended one or another ISP's."""
    gib = 1024**3
    shop = await make_shop(data_quota_bytes=gib)
    voucher = await make_voucher(plan=await shop_plan(shop))
    tenant = SimpleNamespace(id=shop.tenant_id)
    here, there = await make_router(tenant=tenant), await make_router(tenant=tenant)
    other = await make_shop()
    url = f"/api/v1/portal/vouchers/{voucher.code}"

    async def notices() -> list[dict]:
        found = await browser_like.get(url, headers=shop.host)
        assert found.status_code == 200, found.text
        return found.json()["notices"]

    unique = "notices-" + voucher.code
    for kind, used in (("start", 0), ("interim-update", int(gib * 0.89))):
        await accounting(kind=kind, tenant_id=shop.tenant_id, nas=str(here.ip_address),
                         username=voucher.code, unique=unique, bytes_in=used)  # fmt: skip
    assert await notices() == []  # 89%: not yet
    await accounting(kind="interim-update", tenant_id=shop.tenant_id, nas=str(here.ip_address),
                     username=voucher.code, unique=unique, bytes_in=int(gib * 0.91))  # fmt: skip
    assert await notices() == [{"kind": "usage", "resource": "data", "percent": 90}]

    announce = "INSERT INTO outage (tenant_id, router_id, message, created_by, ends_at) VALUES "
    await sql(announce + "(:t, :r, 'At the other mast', 'test', NULL), "
              "(:t, :h, 'At your mast', 'test', NULL), (:t, NULL, 'Everywhere, over', 'test', "
              "now() + interval '1 millisecond'), (:o, NULL, 'Another ISP', 'test', NULL)",
              t=shop.tenant_id, r=there.id, h=here.id, o=other.tenant_id)  # fmt: skip
    await asyncio.sleep(0.01)  # the ISP-wide one has ended
    await sql(announce + "(:t, NULL, 'Everywhere, now', 'test', NULL)", t=shop.tenant_id)
    assert [n.get("text") for n in await notices()] == [None, "Everywhere, now", "At your mast"]

    # A top-up raises the quota: no longer past 90% of it, the usage notice goes.
    await sql("UPDATE voucher SET data_quota_bytes = :q WHERE id = :v", q=2 * gib, v=voucher.id)
    assert [n["kind"] for n in await notices()] == ["outage", "outage"]
