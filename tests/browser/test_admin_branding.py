"""The dashboard's SMS and branding pages in a real browser (Debian's chromium, a phone's 390 px,
and a desktop's 1280 px for the branding page): an owner sets the ISP's Africa's Talking account
and sends a test SMS that the fake Africa's Talking receives; changes the portal's colour, sees
it in the preview as typed, saves it, and finds it on the real portal; no console errors, no
policy violations (the browser fixtures watch every frame)."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import portal_url, screenshot
from tests.browser.dashboard import admin_url, sign_in, watch_errors
from tests.factories import make_plan, make_staff, make_tenant
from tests.test_admin_settings_pages import png
from tests.test_sms import ISP, phone, received

MAGENTA = ("#c2185b", "rgb(194, 24, 91)")


async def test_the_sms_account_is_set_and_a_test_sms_sent_from_its_page(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/settings"))
    await page.click("#to-sms")
    await expect(page.locator("#sms-state")).to_contain_text("platform's account")

    await page.fill("#sms-username", "has space")
    await page.fill("#sms-api-key", ISP["api_key"])
    await page.click("#save-sms")
    await expect(page.locator(".alert-danger")).to_contain_text("letters, digits")
    await expect(page.locator("#sms-username")).to_have_value("has space")
    await expect(page.locator("#sms-api-key")).to_have_value("")  # never sent back

    await page.fill("#sms-username", ISP["username"])
    await page.fill("#sms-sender", ISP["sender_id"])
    await page.fill("#sms-api-key", ISP["api_key"])
    await page.click("#save-sms")
    await expect(page.locator(".alert-success")).to_contain_text("SMS account is saved")
    await expect(page.locator("#sms-state")).to_contain_text("your account")
    await expect(page.locator("#sms-api-key")).to_have_attribute(
        "placeholder", "stored: leave empty to keep"
    )
    assert ISP["api_key"] not in await page.content()

    await page.fill("#sms-to", "0712345678")
    await page.click("#send-test-sms")
    await expect(page.locator(".alert-danger")).to_contain_text("country code")
    to = phone()
    await page.fill("#sms-to", to)
    await page.click("#send-test-sms")
    await expect(page.locator("#notice")).to_contain_text(f"took the test message for {to}")
    await expect(page.locator("#sms-messages .sms").first).to_contain_text("sent")
    [sms] = await received(to)
    assert (sms["username"], sms["from"]) == (ISP["username"], ISP["sender_id"])
    await screenshot(page, "admin-settings-sms-390")
    assert not errors, errors


async def test_the_portal_colour_is_previewed_saved_and_seen_on_the_portal(page: Page) -> None:
    errors = watch_errors(page)
    # The preview's requests are GETs: the form's CSRF token must not ride along in an address.
    leaked: list[str] = []
    page.on("request", lambda r: leaked.append(r.url) if "csrf_token" in r.url else None)
    tenant = await make_tenant(name="Kahawa Net")
    await make_plan(tenant=tenant, name="1 hour", price=20)
    await make_plan(tenant=tenant, name="1 day", price=50, duration_seconds=86400)
    owner = await make_staff(tenant=tenant, role="owner")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/settings"))
    await page.click("#to-branding")
    preview = page.frame_locator("#preview-frame")
    await expect(preview.locator("#isp-name")).to_have_text("Kahawa Net")
    await expect(preview.locator(".package")).to_have_count(2)

    # As typed, before saving: the preview follows; the portal does not.
    await page.fill("#primary_color", MAGENTA[0])
    await page.fill("#display_name", "Kahawa WiFi")
    await page.fill("#support_phone", "0712 345 678")
    await expect(preview.locator(".brand-bar")).to_have_css("background-color", MAGENTA[1])
    await expect(preview.locator("#isp-name")).to_have_text("Kahawa WiFi")
    await expect(preview.locator("footer")).to_contain_text("0712 345 678")
    await expect(page.locator("#color-picker")).to_have_value(MAGENTA[0])

    # A colour the portal cannot show: the preview says why, and the form says what to fix.
    await page.fill("#primary_color", "#c2185")
    await expect(page.locator("#preview-problem")).to_contain_text("six hexadecimal digits")
    await page.click("#save-branding")
    await expect(page.locator(".alert-danger")).to_contain_text("six hexadecimal digits")
    await expect(page.locator("#primary_color")).to_have_value("#c2185")
    await expect(page.locator("#display_name")).to_have_value("Kahawa WiFi")

    await page.fill("#primary_color", MAGENTA[0])
    await expect(preview.locator(".brand-bar")).to_have_css("background-color", MAGENTA[1])
    await page.click("#save-branding")
    await expect(page.locator(".alert-success")).to_contain_text("look is saved")
    await expect(preview.locator(".brand-bar")).to_have_css("background-color", MAGENTA[1])

    # A logo (sent as a file, the form's token in the multipart body) shows in the preview.
    logo = {
        "name": "logo.png",
        "mimeType": "image/png",
        "buffer": png(side=64, rgb=b"\xff\xc1\x07"),
    }
    await page.set_input_files("#logo", logo)
    await page.click("#upload-logo")
    await expect(page.locator(".alert-success")).to_contain_text("look is saved")
    await expect(page.locator("#logo-now")).to_be_visible()
    await expect(preview.locator("img.logo")).to_be_visible()
    assert await preview.locator("img.logo").evaluate("i => i.naturalWidth") == 64
    await page.locator("#preview-frame").scroll_into_view_if_needed()
    await screenshot(page, "admin-branding-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await expect(preview.locator(".brand-bar")).to_have_css("background-color", MAGENTA[1])
    await screenshot(page, "admin-branding-1280")

    await page.goto(portal_url(tenant.slug))
    await expect(page.locator(".brand-bar")).to_have_css("background-color", MAGENTA[1])
    await expect(page.locator("#isp-name")).to_have_text("Kahawa WiFi")
    assert not errors, errors
    assert not leaked, leaked
