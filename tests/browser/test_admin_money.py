"""Money that bought nothing, resolved from the dashboard in a real browser: the home page
points at it, the payments page lists it under "Bought nothing yet", a wrong phone is explained
with what was typed kept, and the resolution gives the customer a voucher once (the payment
then shows it, and nothing waits any more)."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, expect

from tests.browser.conftest import API_PORT, screenshot
from tests.browser.dashboard import admin_url, sign_in, watch_errors
from tests.factories import make_staff
from tests.payshop import make_shop, money, new_receipt, shop_tenant
from tests.test_payment_c2b import c2b_body, confirm


async def test_an_owner_resolves_money_that_bought_nothing(page: Page) -> None:
    errors = watch_errors(page)
    shop = await make_shop(price=20)
    owner = await make_staff(tenant=await shop_tenant(shop), role="owner")
    receipt = new_receipt()
    # Paid to an account that is no phone, voucher or purchase: Daraja confirms it anyway.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}") as api:
        await confirm(api, shop, c2b_body(amount=20, ref="SHOP-42", receipt=receipt))
    assert [p["status"] for p in (await money(shop.tenant_id))["payments"]] == ["held"]

    await sign_in(page, shop.slug, owner.email)
    await page.click("#go-waiting")  # the home page: "1 payments bought nothing yet"
    payment = page.locator(f'.payment[data-receipt="{receipt}"]')
    await expect(payment.locator(".status")).to_have_text("held")
    await payment.locator("summary").click()
    await payment.locator('input[name="phone"]').fill("0812")
    await payment.locator('input[name="reason"]').fill("Customer called: paid to SHOP-42")
    await payment.locator(".resolve-button").click()
    await expect(page.locator(".alert-danger").first).to_contain_text("phone")
    payment = page.locator(f'.payment[data-receipt="{receipt}"]')
    await expect(payment.locator('input[name="reason"]')).to_have_value(
        "Customer called: paid to SHOP-42"
    )
    await payment.locator('input[name="phone"]').fill("0712 345 678")
    await screenshot(page, "admin-payments-resolve-390")
    await payment.locator(".resolve-button").click()
    await expect(page.locator(".alert-success").first).to_contain_text("Resolved")
    payment = page.locator(f'.payment[data-receipt="{receipt}"]')
    await expect(payment.locator(".status")).to_have_text("granted")
    await expect(payment.locator(".note")).to_contain_text("paid to SHOP-42")
    code = await payment.locator(".voucher").inner_text()
    rows = await money(shop.tenant_id)
    assert [v["code"] for v in rows["vouchers"]] == [code] and len(rows["grants"]) == 1
    await screenshot(page, "admin-payments-resolved-390")
    await page.click("#show-waiting")
    await expect(page.locator("#payments")).to_contain_text("Nothing waiting")
    await payment.page.goto(admin_url(shop.slug, f"/admin/vouchers/{code}"))
    await expect(page.locator("#state")).to_have_text("unused")
    assert not errors, errors
