"""The dashboard's offers page in a real browser: an owner opens it from the messages page on a
phone, sees how many customers an offer will reach, is told to choose a channel, sends the offer
and watches it delivered through the fake Africa's Talking (the list follows its progress by
itself); support cannot open it."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, expect

from api.db import unit_of_work
from api.sms import service as sms
from api.sms.schemas import SmsSettingsIn
from api.tenancy import Principal
from tests.browser.conftest import screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import make_staff, make_tenant
from tests.offers_world import at_fake, opted_in, phone, texts


async def test_an_owner_sends_an_offer_and_sees_it_delivered(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    account = {"username": f"isp-{tenant.slug}"[:60], "api_key": "key-" + tenant.slug}
    await at_fake("POST", "/__fake__/accounts", json=account)
    async with unit_of_work() as session:
        await sms.save_settings(session, Principal.cli(tenant.id),
                                SmsSettingsIn(**account, shortcode="22384"))  # fmt: skip
    english, swahili = sorted([phone(), phone()])
    await opted_in(tenant.id, english)
    await opted_in(tenant.id, swahili, language="sw")

    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/messages"))
    await page.click("#to-offers")
    await expect(page.locator("#consent-counts")).to_contain_text("2 customers asked for offers")
    await expect(page.locator("#audience")).to_contain_text("reach 2 customers")
    await expect(page.locator("#channel-whatsapp")).to_be_disabled()  # not set up
    await page.fill("#offer-text", "Weekend: 5 GB for KES 100")
    await page.uncheck("#channel-sms")
    await page.click("#send-offer")
    await expect(page.locator(".alert-danger")).to_contain_text("at least one channel")
    await expect(page.locator("#offer-text")).to_have_value("Weekend: 5 GB for KES 100")
    await page.check("#channel-sms")
    await page.click("#send-offer")
    await expect(page.locator(".alert-success")).to_contain_text("on its way")
    offer = page.locator("#offers .offer").first
    await expect(offer.locator(".offer-text")).to_have_text("Weekend: 5 GB for KES 100")
    # The worker sends it, the fake reports delivery, the list refreshes itself.
    await expect(offer.locator(".progress-line")).to_contain_text("2 delivered", timeout=30_000)
    await expect(offer.locator(".progress-line")).to_contain_text("KES 1.60")
    assert await texts(english) == ["Weekend: 5 GB for KES 100\nSTOP to 22384 to stop offers"]
    assert await texts(swahili) == ["Weekend: 5 GB for KES 100\nTuma ACHA kwa 22384 kusitisha ofa"]
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    await screenshot(page, "admin-offers-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-offers-1280")
    assert not errors, errors

    other, support_page = await signed_in_elsewhere(context, tenant.slug, support.email)
    response = await support_page.goto(admin_url(tenant.slug, "/admin/messages/offers"))
    assert response is not None and response.status == 403
    await other.close()
