"""The dashboard's messages page in a real browser: the limits (a wrong prefix explained, what was
typed kept), an event's own wording and switch, the latest notifications with what became of
them; support cannot open it; the staff alerts listed, a burst of failed sign-ins among the latest,
and a staff alert reworded, still by e-mail."""

from __future__ import annotations

import asyncio

from playwright.async_api import BrowserContext, Page, expect

from api.auth.alerts import FAILED_LOGINS
from api.db import unit_of_work
from api.notifications import service
from api.notifications.decisions import decide
from api.notifications.templates import DEFAULTS
from tests.browser.conftest import SCREENSHOTS, screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import make_plan, make_staff, make_tenant, make_voucher
from tests.radius.conftest import sql
from tests.test_notifications import _dispatched
from tests.test_staff_alerts import _addresses, _fail


async def test_an_owner_sets_what_customers_are_told(page: Page, context: BrowserContext) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))  # printed: no phone
    async with unit_of_work() as session:
        await decide(session, tenant.id, "usage.data", f"ui:{voucher.id}", voucher.id,
                     {"percent": 90})  # fmt: skip
    for _ in range(50):
        await service.dispatch()
        if (await sql("SELECT status FROM notification WHERE key = :k",
                      k=f"ui:{voucher.id}"))[0]["status"] != "new":  # fmt: skip
            break
        await asyncio.sleep(0.1)

    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/messages"))
    await expect(page.locator("#notifications .notification")).to_contain_text("no phone number")
    await page.fill("#prefixes", "254")
    await page.fill("#usage", "80")
    await page.click("#save-limits")
    await expect(page.locator(".alert-danger")).to_contain_text("message_prefixes")
    await expect(page.locator("#usage")).to_have_value("80")  # what was typed stays
    await page.fill("#prefixes", "+254,+256")
    await page.click("#save-limits")
    await expect(page.locator(".alert-success")).to_contain_text("saved")
    [row] = await sql("SELECT usage_warning_percent, message_prefixes FROM tenant WHERE id = :t",
                      t=tenant.id)  # fmt: skip
    assert (row["usage_warning_percent"], row["message_prefixes"]) == (80, "+254,+256")

    usage = page.locator('.rule[data-event="usage.data"]')
    await usage.locator("textarea[name=template_en]").fill("{isp}: {percent}% of {code} used")
    await usage.locator(".save-rule").click()
    await expect(page.locator(".alert-success")).to_contain_text("Saved")
    expiry = page.locator('.rule[data-event="expiry"]')
    await expiry.locator("input[name=enabled]").uncheck()
    await expiry.locator(".save-rule").click()
    await expect(page.locator(".alert-success")).to_contain_text("Saved")
    rules = {r["event"]: r for r in await sql(
        "SELECT * FROM notification_rule WHERE tenant_id = :t", t=tenant.id)}  # fmt: skip
    assert rules["usage.data"]["template_en"] == "{isp}: {percent}% of {code} used"
    assert rules["usage.data"]["template_sw"] is None  # the default Swahili, unchanged
    assert rules["expiry"]["enabled"] is False
    await screenshot(page, "admin-messages-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-messages-1280")
    assert not errors, errors

    other, support_page = await signed_in_elsewhere(context, tenant.slug, support.email)
    response = await support_page.goto(admin_url(tenant.slug, "/admin/messages"))
    assert response is not None and response.status == 403
    await other.close()


async def test_an_owner_reads_and_rewords_the_staff_alerts(app, page: Page) -> None:
    """After a burst of failed sign-ins, the owner finds its alert among the latest (mailed), and
    rewords the alert: it stays by e-mail."""
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    addresses = _addresses(3)
    for i in range(FAILED_LOGINS):  # e-mails nobody has here: the owner's own budget stays whole
        await _fail(app, tenant.slug, f"guess-{i}@example.com", addresses[i % 3])
    [alert] = await sql("SELECT key FROM notification WHERE tenant_id = :t", t=tenant.id)
    await _dispatched(alert["key"])

    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/messages"))
    latest = page.locator('#notifications .notification[data-event="staff.failed_logins"]')
    await expect(latest).to_contain_text("email")
    logins = page.locator('.rule[data-event="staff.failed_logins"]')
    payments = page.locator('.rule[data-event="staff.failed_payments"]')
    await expect(logins).to_contain_text("a burst of failed staff sign-ins")
    await expect(logins).to_contain_text("by EMAIL")
    await expect(payments).to_contain_text("from one phone failed again and again")
    await expect(payments.locator("textarea[name=template_sw]")).to_have_value(
        DEFAULTS["staff.failed_payments"]["sw"]
    )
    await screenshot(page, "admin-messages-staff-alerts-390")
    for name, card in (("logins", logins), ("payments", payments)):  # to look at them closely
        await card.screenshot(path=SCREENSHOTS / f"admin-messages-failed-{name}-390.png")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    wording = "{isp}: {failures} failed sign-ins in {minutes} min from {sources}"
    await logins.locator("textarea[name=template_en]").fill(wording)
    await logins.locator(".save-rule").click()
    await expect(page.locator(".alert-success")).to_contain_text("Saved")
    await expect(page.locator('.rule[data-event="staff.failed_logins"]')).to_contain_text(
        "by EMAIL"
    )
    [rule] = await sql("SELECT * FROM notification_rule WHERE tenant_id = :t", t=tenant.id)
    assert (rule["template_en"], rule["channels"]) == (wording, ["email"])
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-messages-staff-alerts-1280")
    await page.locator('.rule[data-event="staff.failed_logins"]').screenshot(
        path=SCREENSHOTS / "admin-messages-failed-logins-1280.png"
    )
    assert not errors, errors
