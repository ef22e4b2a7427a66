"""The dashboard in Kiswahili in a real browser (issue 14): chosen in the navbar before signing
in, kept by the browser across sign-in and reloads, the menu and pages in Swahili at a phone's
390 px (longer words than the English: they must still fit) and a desk's 1280 px, and back to
English on the same page."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import API_PORT, screenshot
from tests.browser.dashboard import admin_url, sign_in, watch_errors
from tests.factories import (
    PASSWORD,
    accounting,
    make_plan,
    make_router,
    make_sale,
    make_staff,
    make_tenant,
)
from tests.payshop import make_shop, new_receipt, shop_plan, shop_tenant
from tests.test_payment_c2b import c2b_body, confirm

MENU = ["Vocha", "Vifurushi", "Ofa", "Miunganisho", "Malipo", "Ruta"]
# The pages in Kiswahili so far, by their headings (the last one is where the test goes on).
PAGES = {
    "/admin/account": "Akaunti yangu",
    "/admin/plans": "Vifurushi",
    "/admin/promos": "Misimbo ya ofa",
    "/admin/tokens": "Tokeni za API",
    "/admin/audit": "Kumbukumbu",
    "/admin/staff": "Wafanyakazi",
}


async def _fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling, no clipped navbar."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = await page.evaluate("window.innerWidth")
    assert width <= viewport, f"{width}px of page on a {viewport}px screen"


async def test_an_owner_switches_to_kiswahili_signs_in_and_it_stays(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant(name="Nyumbani Fibre Networks")
    owner = await make_staff(tenant=tenant, role="owner")
    await make_router(tenant=tenant, name="kibera-hap-ac2")
    await make_plan(tenant=tenant, name="Saa moja", price=20)

    # The sign-in page, in English for this browser (no Accept-Language of Swahili); the switch.
    await page.goto(admin_url(tenant.slug))
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await expect(page.locator("#lang-switch")).to_have_text("Kiswahili")
    await page.click("#lang-switch")
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await expect(page.locator("html")).to_have_attribute("lang", "sw")
    await expect(page.locator("h1")).to_have_text("Ingia kwenye Nyumbani Fibre Networks")
    await expect(page.locator("#lang-switch")).to_have_text("English")
    await _fits(page)
    await screenshot(page, "admin-swahili-login-390")

    await page.fill("#email", owner.email)
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    await expect(page.locator("#sign-out")).to_have_text("Toka")
    # On a phone, signed in, the switch is short (the ISP's name needs the room).
    await expect(page.locator("#lang-switch")).to_have_attribute("aria-label", "English")
    await expect(page.locator("#lang-switch span:visible")).to_have_text("EN")

    # The phone's menu, in Swahili; a section from it.
    await page.click("#menu summary")
    await expect(page.locator("#menu summary")).to_have_text("Menyu")
    for label in MENU:
        await expect(page.locator("#menu a", has_text=label)).to_be_visible()
    await page.locator("#menu a", has_text="Ruta").click()
    await expect(page).to_have_url(re.compile(r"/admin/routers$"))
    await expect(page.locator("h1")).to_have_text("Ruta")
    await expect(page.locator(".router .status")).to_have_text("kimya")
    await page.click("#menu summary")
    await _fits(page)
    await screenshot(page, "admin-swahili-390")

    # Remembered by this browser: a reload, and another page, stay Swahili.
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "sw")
    await expect(page.locator("h2").first).to_have_text("Ongeza ruta")
    for path, title in PAGES.items():
        await page.goto(admin_url(tenant.slug, path))
        await expect(page.locator("h1")).to_have_text(title)
        await _fits(page)
        await screenshot(page, f"admin-swahili{path.replace('/admin/', '-')}-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await _fits(page)
    await expect(page.locator("nav a", has_text="Kumbukumbu")).to_be_visible()
    # The sections in the navbar leave the ISP's name its room.
    assert await page.locator(".navbar-brand").evaluate("e => e.clientWidth") >= 100
    await screenshot(page, "admin-swahili-1280")

    # Back to English, on the same page.
    await page.click("#lang-switch")
    await expect(page).to_have_url(re.compile(r"/admin/staff$"))
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Staff")
    await page.set_viewport_size({"width": 390, "height": 800})
    await _fits(page)
    await screenshot(page, "admin-english-staff-390")
    assert not errors, errors


# The pages finished in the second round, by a heading of each (h1 unless named), and their
# screenshot's name: the figures, the money and the settings, with their longest texts shown.
MORE = [
    ("/admin/", "#live #figures", "Mtandaoni sasa", "home"),
    ("/admin/vouchers", "h1", "Vocha", "vouchers"),
    ("/admin/sessions", "h1", "Miunganisho", "sessions"),
    ("/admin/payments", "h1", "Malipo", "payments"),
    ("/admin/payments/check", "h1", "Ukaguzi wa pesa", "money-check"),
    ("/admin/settings", "h1", "Mipangilio", "settings"),
    ("/admin/settings/sms", "h1", "SMS", "settings-sms"),
    ("/admin/settings/branding", "h1", "Mwonekano wa portal", "branding"),
    ("/admin/messages", "h1", "Jumbe kwa wateja", "messages"),
]


async def test_the_money_vouchers_sessions_and_settings_in_kiswahili_on_a_phone(
    page: Page,
) -> None:
    errors = watch_errors(page)
    shop = await make_shop(price=20, name="Kifurushi cha saa moja")
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    router = await make_router(tenant=tenant, name="kibera-hap-ac2")
    plan = await shop_plan(shop)
    code = await make_sale(plan=plan, phone="254712345678", receipt=new_receipt())
    await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                     username=code, unique=secrets.token_hex(4))  # fmt: skip
    held = new_receipt()  # money that bought nothing: the payments page offers to resolve it
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}") as api:
        await confirm(api, shop, c2b_body(amount=20, ref="SHOP-42", receipt=held))

    await page.context.add_cookies([{"name": "mnetifi_lang", "value": "sw",
                                     "url": admin_url(shop.slug)}])  # fmt: skip
    await sign_in(page, shop.slug, owner.email)
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    await expect(page.locator("html")).to_have_attribute("lang", "sw")
    await expect(page.locator("#router-figures")).to_contain_text("1 mtandaoni")
    await expect(page.locator("#go-waiting")).to_have_text("Malipo 1 bado hayajanunua chochote.")
    for path, where, title, name in MORE:
        await page.goto(admin_url(shop.slug, path))
        await expect(page.locator(where).first).to_contain_text(title)
        if path == "/admin/payments":
            await expect(page.locator("#money-check")).to_contain_text("Kila malipo yalitoa")
            payment = page.locator(f'.payment[data-receipt="{held}"]')
            await expect(payment.locator(".status")).to_have_text("imezuiliwa")
            await payment.locator("summary").click()
            await expect(payment.locator(".resolve-button")).to_have_text("Toa kifurushi hiki")
        if path == "/admin/sessions":
            await expect(page.locator(".session .live")).to_have_text("mtandaoni")
        await _fits(page)
        await screenshot(page, f"admin-swahili-{name}-390")

    await page.goto(admin_url(shop.slug, f"/admin/vouchers/{code}"))
    await expect(page.locator("#state")).to_have_text("haijatumika")  # sold, never through a login
    await expect(page.locator("#give-time")).to_have_text("Ongeza muda")
    await expect(page.locator("#voucher-payments")).to_contain_text("Imenunuliwa")
    await _fits(page)
    await screenshot(page, "admin-swahili-voucher-390")
    assert not errors, errors
