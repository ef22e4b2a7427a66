"""The captive portal in a phone's browser: from the router's redirect to "you are online" by
M-Pesa, a cancelled payment and its retry, voucher login with and without JavaScript, QR login,
a router's RADIUS rejection shown on the portal, promo codes, dark mode, and each ISP on its
own subdomain. The router is radius/hotspot.py; FreeRADIUS and the fake Daraja are the stack's.
"""

from __future__ import annotations

import re
import secrets
from types import SimpleNamespace

import pytest
from playwright.async_api import Page, expect

from api.db import unit_of_work
from api.sessions import control
from api.tenancy import Principal
from radius.hotspot import HotspotSimulator
from tests.browser.conftest import portal_url, screenshot
from tests.factories import make_voucher
from tests.payshop import Shop, add_plan, fake, make_shop, phone
from tests.radius.conftest import sql
from tests.radius.radclient import accounting_request, hotspot_request, send

CANCELLING_PHONE = "254700000001"  # the fake Daraja's "user cancels" (ResultCode 1032)


def at_index(shop: Shop) -> re.Pattern[str]:
    return re.compile(re.escape(portal_url(shop.slug)) + r"(\?.*)?$")


def at_online(shop: Shop) -> re.Pattern[str]:
    return re.compile(re.escape(portal_url(shop.slug) + "/online?"))


async def from_router(page: Page, shop: Shop, hotspot: HotspotSimulator) -> None:
    """The phone's first request behind the hotspot: the router's login.html sends it on to
    the ISP's portal with the router's context."""
    await page.goto(hotspot.login_url)
    await page.wait_for_url(at_index(shop))


async def new_voucher(shop: Shop) -> str:
    plan = (await sql("SELECT * FROM plan WHERE id = :p", p=shop.plan_id))[0]
    return (await make_voucher(plan=SimpleNamespace(**plan))).code


async def choose_and_pay(page: Page, shop: Shop, msisdn: str) -> None:
    await page.click(f'#packages .package[data-plan-id="{shop.plan_id}"]')
    await page.fill("#phone", msisdn)
    await page.click("#pay-button")


async def expect_online(page: Page, shop: Shop, code: str) -> None:
    await page.wait_for_url(at_online(shop))
    await expect(page.locator("#online-code")).to_have_text(code)
    await expect(page.locator("#online")).to_have_attribute("data-state", "active")
    # The countdown runs from what FreeRADIUS started: a one-hour package, just begun.
    countdown = page.locator("#countdown")
    await expect(countdown).to_have_attribute("data-seconds", re.compile(r"^3[45]\d\d$"))
    await expect(countdown).to_have_text(re.compile(r"^00:[56]\d:\d\d$"))
    await expect(page.locator("#devices")).to_have_text("1 / 1")  # this phone, from accounting


def logins(hotspot: HotspotSimulator) -> list[tuple[str, str, str]]:
    return [(login.code, login.method, login.mac) for login in hotspot.logins]


async def test_buy_from_the_router_redirect_to_online(page, shop, hotspot):
    msisdn = phone()
    # The customer takes a moment to enter the PIN, so "waiting" is on screen for a while.
    await fake(
        "POST",
        "scenario",
        json={"phone": msisdn, "scenario": "success", "params": {"delay_ms": 1500}, "once": True},
    )
    await from_router(page, shop, hotspot)
    router = page.locator("#router")
    await expect(router).to_have_attribute("data-login", hotspot.login_url)
    await expect(router).to_have_attribute("data-mac", hotspot.phone.mac)
    await expect(router).to_have_attribute("data-chap-id", re.compile(r"^[0-9a-f]{2}$"))
    await expect(router).to_have_attribute("data-chap-challenge", re.compile(r"^[0-9a-f]{32}$"))
    await screenshot(page, "01-packages")

    await page.evaluate("window.sameDocument = true")
    await choose_and_pay(page, shop, msisdn)
    status = page.locator("#status")
    await expect(status).to_have_attribute("data-status", "pending")
    await expect(page.locator("#status-text")).not_to_be_empty()
    await screenshot(page, "02-waiting")
    await expect(status).to_have_attribute("data-status", "paid", timeout=15_000)
    assert await page.evaluate("window.sameDocument === true"), "the page reloaded"
    code = (await page.locator("#voucher-code").text_content() or "").strip()
    assert re.fullmatch(r"[0-9A-Z]{6,8}", code), code
    await expect(page.locator("#voucher-qr")).to_have_attribute("src", re.compile(code))
    await expect(page.locator("#pay-form")).to_be_hidden()  # no second charge by a second tap
    await screenshot(page, "03-paid")

    # The page logs in through the router by itself (CHAP), the router's alogin.html brings
    # the phone back to the portal's online page.
    await expect_online(page, shop, code)
    await screenshot(page, "04-online")
    assert logins(hotspot) == [(code, "chap", hotspot.phone.mac)]
    assert 3500 < hotspot.logins[0].session_timeout <= 3600
    rows = await sql("SELECT tenant_id, source FROM voucher WHERE code = :c", c=code)
    assert [(r["tenant_id"], r["source"]) for r in rows] == [(shop.tenant_id, "payment")]
    purchase = await sql(
        "SELECT status, client_mac FROM stk_request WHERE tenant_id = :t", t=shop.tenant_id
    )
    assert [(r["status"], r["client_mac"]) for r in purchase] == [("paid", hotspot.phone.mac)]


async def test_a_cancelled_payment_shows_why_and_can_be_retried(page, shop, hotspot):
    await from_router(page, shop, hotspot)
    await choose_and_pay(page, shop, CANCELLING_PHONE)
    await expect(page.locator("#status")).to_have_attribute("data-status", "failed")
    await expect(page.locator("#status-text")).to_contain_text(re.compile("cancelled", re.I))
    await expect(page.locator("#retry")).to_be_visible()
    await screenshot(page, "05-cancelled")
    assert hotspot.logins == []

    await page.click("#retry")
    await page.fill("#phone", phone())
    await page.click("#pay-button")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid")
    code = (await page.locator("#voucher-code").text_content() or "").strip()
    await expect_online(page, shop, code)
    assert logins(hotspot) == [(code, "chap", hotspot.phone.mac)]
    rows = await sql(
        "SELECT status FROM stk_request WHERE tenant_id = :t ORDER BY id", t=shop.tenant_id
    )
    assert [r["status"] for r in rows] == ["failed", "paid"]


async def test_voucher_login_through_the_router(page, shop, hotspot):
    code = await new_voucher(shop)
    await from_router(page, shop, hotspot)
    await page.fill("#code", code.lower())  # typed as it comes
    await page.click("#connect")
    await expect_online(page, shop, code)
    assert logins(hotspot) == [(code, "chap", hotspot.phone.mac)]


async def _revoke(shop: Shop, code: str) -> None:
    async with unit_of_work() as session:
        await control.revoke_voucher(session, Principal.cli(shop.tenant_id), code)


async def _expire(shop: Shop, code: str) -> None:
    await sql("UPDATE voucher SET issued_at = now() - interval '400 days' WHERE code = :c", c=code)


@pytest.mark.parametrize(
    ("spoil", "reason"), [(_revoke, "Voucher revoked"), (_expire, "Voucher expired")]
)
async def test_a_dead_voucher_shows_why_and_never_reaches_the_router(
    page, shop, hotspot, spoil, reason
):
    code = await new_voucher(shop)
    await spoil(shop, code)
    await from_router(page, shop, hotspot)
    await page.fill("#code", code)
    await page.click("#connect")
    await expect(page.locator("#voucher-error")).to_contain_text(reason)
    await expect(page.locator("#voucher-error")).to_be_visible()
    assert page.url.startswith(portal_url(shop.slug))
    assert hotspot.logins == [] and hotspot.rejects == []


async def test_the_routers_radius_rejection_is_shown_on_the_portal(page, shop, hotspot):
    """A voucher the portal accepts but FreeRADIUS refuses (its one device is online elsewhere):
    the router's login page carries the Reply-Message back to the portal."""
    await sql("UPDATE plan SET device_limit = 1 WHERE id = :p", p=shop.plan_id)
    code = await new_voucher(shop)
    router, laptop = hotspot.router, "AA:00:00:00:00:02"
    first = send(
        "auth", hotspot_request(code, mac=laptop), src=router.address, secret=router.secret
    )
    assert first.code == "Access-Accept", first.output
    start = accounting_request(code, "Start", mac=laptop, session_id=secrets.token_hex(4))
    assert send("acct", start, src=router.address, secret=router.secret).code

    await from_router(page, shop, hotspot)
    await page.fill("#code", code)
    await page.click("#connect")
    await expect(page.locator("#router-error")).to_contain_text("Device limit reached")
    assert page.url.startswith(portal_url(shop.slug))
    assert hotspot.logins == []
    assert [(r.code, r.method) for r in hotspot.rejects] == [(code, "chap")]
    await screenshot(page, "06-router-rejected")


async def test_voucher_login_without_javascript(browser, shop, hotspot):
    context = await browser.new_context(java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = await context.new_page()
        code = await new_voucher(shop)
        await page.goto(hotspot.login_url)
        await page.get_by_role("button", name="Continue").click()  # login.html's <noscript> button
        await page.wait_for_url(at_index(shop))
        await page.click("#lang-toggle")  # Kiswahili: the router's context stays on the page
        await expect(page.locator("html")).to_have_attribute("lang", "sw")
        await page.fill("#code", code)
        await page.click("#connect")  # POST /hotspotportal/login, 303 to the router (PAP)
        await page.wait_for_url(re.compile(re.escape(hotspot.login_url) + r"\?username="))
        assert logins(hotspot) == [(code, "pap", hotspot.phone.mac)]
        await page.get_by_role("button", name="OK").click()  # alogin.html's <noscript> button
        await page.wait_for_url(at_online(shop))
        await expect(page.locator("#online-code")).to_have_text(code)
        await screenshot(page, "07-online-without-javascript")
    finally:
        await context.close()


async def test_qr_code_login(page, shop, hotspot):
    code = await new_voucher(shop)
    svg = await page.goto(f"{portal_url(shop.slug)}/qr/{code}.svg")
    assert svg is not None and svg.status == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert (await svg.body()).lstrip().startswith(b"<svg")

    # Scanned away from the hotspot: the portal offers the voucher, nothing logs in.
    await page.goto(f"{portal_url(shop.slug)}/v/{code}")
    await page.wait_for_url(at_index(shop))
    await expect(page.locator("#qr-login")).to_be_visible()
    await expect(page.locator("#qr-connect")).to_have_attribute("data-code", code)
    await screenshot(page, "08-qr-landing")
    assert hotspot.logins == []

    # Behind the hotspot (the router's redirect came first in this tab): logged in at once.
    await from_router(page, shop, hotspot)
    await page.goto(f"{portal_url(shop.slug)}/v/{code}")
    await expect_online(page, shop, code)
    assert logins(hotspot) == [(code, "chap", hotspot.phone.mac)]


async def test_dark_mode_survives_a_reload(page, shop):
    await page.goto(portal_url(shop.slug))
    html = page.locator("html")
    assert await html.get_attribute("data-bs-theme") != "dark"
    await page.click("#theme-toggle")
    await expect(html).to_have_attribute("data-bs-theme", "dark")
    await page.reload()
    await expect(html).to_have_attribute("data-bs-theme", "dark")
    await screenshot(page, "09-dark")
    await page.click("#theme-toggle")
    await page.reload()
    await expect(html).to_have_attribute("data-bs-theme", "light")


async def test_each_isp_shows_its_own_packages(page):
    shops = [await make_shop(name=f"{n}-{secrets.token_hex(3)}") for n in ("Alpha", "Beta")]
    names = [
        (await sql("SELECT name FROM plan WHERE id = :p", p=s.plan_id))[0]["name"] for s in shops
    ]
    for shop, name in zip(shops, names, strict=True):
        await page.goto(portal_url(shop.slug))
        packages = page.locator("#packages .package")
        await expect(packages).to_have_count(1)
        assert await packages.get_attribute("data-name") == name
        assert await packages.get_attribute("data-plan-id") == str(shop.plan_id)
        other = next(n for n in names if n != name)
        assert other not in await page.content()


async def test_an_unknown_isp_gets_the_404_page(page):
    response = await page.goto(portal_url("nosuchisp" + secrets.token_hex(3)))
    assert response is not None and response.status == 404
    await expect(page.locator("#notfound")).to_be_visible()
    await screenshot(page, "10-unknown-isp")


async def test_a_promo_code_lowers_what_the_stk_push_asks(page, shop):
    await sql(
        "INSERT INTO promo_code (tenant_id, code, kind, value) VALUES (:t, 'HALF', 'percent', 50)",
        t=shop.tenant_id,
    )
    day = await add_plan(shop, name="Day-" + secrets.token_hex(3), price=40, duration_seconds=86400)
    msisdn = phone()
    await page.goto(portal_url(shop.slug))
    await page.click(f'#packages .package[data-plan-id="{day}"]')
    await expect(page.locator("#amount")).to_have_text("KES 40")
    await page.fill("#promo", "half")
    await page.click("#apply-promo")
    await expect(page.locator("#amount")).to_have_text("KES 20")
    # Another package: the code typed still applies, and the amount shown says so.
    await page.click(f'#packages .package[data-plan-id="{shop.plan_id}"]')
    await expect(page.locator("#amount")).to_have_text("KES 10")
    await screenshot(page, "11-promo")
    await page.fill("#phone", msisdn)
    await page.click("#pay-button")
    await expect(page.locator("#status")).to_have_attribute("data-status", "paid")

    pushes = [
        r["body"]
        for r in await fake("GET", "requests")
        if r["path"] == "/mpesa/stkpush/v1/processrequest"
        and str((r["body"] or {}).get("PhoneNumber")) == msisdn
    ]
    assert [int(p["Amount"]) for p in pushes] == [10]
    rows = await sql(
        "SELECT status, amount, list_price FROM stk_request WHERE tenant_id = :t", t=shop.tenant_id
    )
    assert [tuple(r.values()) for r in rows] == [("paid", 10, 20)]
