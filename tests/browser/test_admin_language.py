"""The dashboard in Kiswahili in a real browser (issue 14): chosen in the navbar before signing
in, kept by the browser across sign-in and reloads, the menu and pages in Swahili at a phone's
390 px (longer words than the English: they must still fit) and a desk's 1280 px, and back to
English on the same page."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import screenshot
from tests.browser.dashboard import admin_url, watch_errors
from tests.factories import PASSWORD, make_plan, make_router, make_staff, make_tenant

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
    await expect(page.locator("h2")).to_have_text("Ongeza ruta")
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
