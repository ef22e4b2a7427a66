"""The subscriber's self-care page in a real browser, as a customer on a phone uses it: sign in
(a wrong password first), see the account expired, pay by M-Pesa (the fake Daraja's STK push and
callback through the stack's real API), watch the page come back paid with the new due date, then
change the PPPoE password and sign in again with it. Screenshots at 390 and 1280 px."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from tests.browser.conftest import portal_url, screenshot
from tests.payshop import Shop, fake
from tests.radius.test_subscribers import PASSWORD, make_subscriber


def account_url(shop: Shop) -> str:
    return portal_url(shop.slug).removesuffix("/hotspotportal") + "/account"


async def sign_in(page: Page, username: str, password: str) -> None:
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("#sign-in")


async def test_a_subscriber_signs_in_pays_and_changes_the_password(page: Page, shop: Shop):
    await fake("POST", "reset")
    sub = await make_subscriber({"tenant_id": shop.tenant_id}, due_in=-timedelta(days=3))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(account_url(shop))
    await sign_in(page, sub["username"].upper(), "not-the-password")
    await expect(page.locator("#login-error")).to_be_visible()
    await sign_in(page, sub["username"].upper(), PASSWORD)  # any case
    await expect(page.locator("#due")).to_have_attribute("data-state", "expired")
    await expect(page.locator("#amount-due")).to_have_text("KES 1500")
    await screenshot(page, "account-expired-390")

    await page.fill("#bill-phone", "0712000444")
    await page.click("#bill-button")
    # The fake Daraja answers the push and calls back; the page follows the purchase and
    # reloads itself once paid.
    await expect(page.locator("#due")).to_have_attribute("data-state", "paid", timeout=15_000)
    await expect(page.locator("#history li")).to_have_count(1)
    await expect(page.locator("#history li")).to_contain_text("KES 1500")
    await screenshot(page, "account-paid-390")

    await page.fill("#current", PASSWORD)
    await page.fill("#new", "Fresh-pass-42")
    await page.fill("#again", "Fresh-pass-42")
    await page.click("#password-button")
    await expect(page.locator("#password-changed")).to_be_visible()
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "account-1280")
    await page.click("#sign-out")
    await sign_in(page, sub["username"], PASSWORD)
    await expect(page.locator("#login-error")).to_be_visible()  # the old one no longer works
    await sign_in(page, sub["username"], "Fresh-pass-42")
    await expect(page.locator("#due")).to_have_attribute("data-state", "paid")

    # The session ends while the page is open (signed out elsewhere, or timed out): the next form
    # sent gets the sign-in page back, saying why.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.context.clear_cookies(name="mnetifi_account")
    await page.fill("#current", "Fresh-pass-42")
    await page.fill("#new", "Another-pass-7")
    await page.fill("#again", "Another-pass-7")
    await page.click("#password-button")
    await expect(page.locator("#login-error")).to_have_text("Your session has ended: sign in again")
    await expect(page.locator("#username")).to_be_visible()
    await screenshot(page, "account-session-ended-390")
    await sign_in(page, sub["username"], "Fresh-pass-42")  # the password did not change
    await expect(page.locator("#due")).to_have_attribute("data-state", "paid")
