"""The dashboard's business pages in a real browser (Debian's chromium at a phone's 390 px):
the audit log, routers (a tech sees only theirs), sessions and disconnects, vouchers and their
sheet, packages, payments and the home page's money, settings and M-Pesa, promos and fair usage,
and the phone's menu; no console errors on any page."""

from __future__ import annotations

import re

import httpx
from playwright.async_api import BrowserContext, Page, expect

from deploy.fakes.daraja_state import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, SANDBOX_PASSKEY
from tests.browser.conftest import API_PORT, screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import (
    accounting,
    make_plan,
    make_router,
    make_staff,
    make_tenant,
    make_voucher,
    random_ip,
)
from tests.payshop import buy, make_shop, phone, shop_tenant, wait_status


async def test_the_audit_log_is_filtered_and_exported_from_its_page(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    await make_staff(tenant=tenant, role="tech")  # staff.create, audited as cli
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/audit"))
    await expect(page.locator("#events .event").first).to_be_visible()
    await expect(page.locator("#events")).to_contain_text("auth.login")
    await page.fill("#action", "staff.*")
    await page.click("#apply-filter")
    actions = await page.locator("#events .action").all_inner_texts()
    assert actions and all(a.startswith("staff.") for a in actions), actions
    await screenshot(page, "admin-audit-390")
    # A bad filter says what to fix.
    await page.fill("#action", "st*ff")
    await page.click("#apply-filter")
    await expect(page.locator(".alert-danger")).to_contain_text("trailing *")
    await page.fill("#action", "staff.*")
    await page.click("#apply-filter")
    async with page.expect_download() as download:
        await page.click("#export-csv")
    text = (await (await download.value).path()).read_text()  # type: ignore[union-attr]
    assert text.startswith("id,created_at,actor") and "staff.create" in text
    assert not errors, errors


async def test_an_owner_adds_a_router_gets_its_script_and_a_tech_sees_only_theirs(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    tech = await make_staff(tenant=tenant, role="tech")
    await make_router(tenant=tenant, name="not-yours")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/routers"))
    await page.fill("#router-name", "kibera-hap")
    await page.fill("#router-ip", "10.10.0.300")
    await page.click("#add-router")
    await expect(page.locator(".alert-danger")).to_contain_text("ip_address")
    await expect(page.locator("#router-name")).to_have_value("kibera-hap")
    await page.fill("#router-ip", random_ip())  # an address no other router has
    await page.click("#add-router")
    secret = (await page.locator("#router-secret").inner_text()).strip()
    assert len(secret) >= 16
    async with page.expect_download() as download:
        await page.click("#created-script")
    script = (await (await download.value).path()).read_text()  # type: ignore[union-attr]
    assert "/radius add" in script and secret in script
    row = page.locator('.router[data-name="kibera-hap"]')
    await expect(row.locator(".status")).to_have_text("silent")
    await screenshot(page, "admin-routers-390")
    # Allocate it to the tech on the staff page; the tech sees only it.
    await page.goto(admin_url(tenant.slug, "/admin/staff"))
    member = page.locator(f'.staff-member[data-email="{tech.email}"]')
    await member.locator('label:has-text("kibera-hap")').click()
    await member.locator(".save-routers").click()
    await expect(page.locator(".alert-success")).to_be_visible()
    other, tech_page = await signed_in_elsewhere(context, tenant.slug, tech.email)
    await tech_page.goto(admin_url(tenant.slug, "/admin/routers"))
    names = await tech_page.locator(".router").evaluate_all("rows => rows.map(r => r.dataset.name)")
    assert names == ["kibera-hap"], names
    # The tech's home: their router's figures, no money.
    await tech_page.goto(admin_url(tenant.slug))
    await expect(tech_page.locator("#router-figures")).to_contain_text("kibera-hap")
    await expect(tech_page.locator("#router-figures")).not_to_contain_text("not-yours")
    await expect(tech_page.locator("#today")).to_have_count(0)
    await expect(tech_page.locator("#add-router")).to_have_count(0)  # adding is the ISP's
    await other.close()
    assert not errors, errors


async def test_live_sessions_are_listed_filtered_and_disconnected_from_their_page(
    page: Page,
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    router = await make_router(tenant=tenant, name="soko-hap")
    plan = await make_plan(tenant=tenant)
    vouchers = [await make_voucher(plan=plan) for _ in range(2)]
    for n, voucher in enumerate(vouchers):
        await accounting(
            kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
            username=voucher.code, unique=f"ui-{tenant.slug}-{n}", mac=f"AA:BB:CC:00:00:0{n}",
        )  # fmt: skip
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/sessions"))
    await expect(page.locator("#sessions .session")).to_have_count(2)
    await expect(page.locator("#sessions .live")).to_have_count(2)
    await page.fill("#voucher", vouchers[0].code)
    await page.click("#apply-filter")
    await expect(page.locator("#sessions .session")).to_have_count(1)
    await screenshot(page, "admin-sessions-390")
    row = page.locator(f'.session[data-voucher="{vouchers[0].code}"]')
    await row.locator('input[name="session_ids"]').check()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#disconnect-chosen")
    await expect(page.locator(".alert-success")).to_contain_text("Disconnect sent")
    log = page.locator("#control-log .control").first
    await expect(log).to_contain_text("disconnect")
    await expect(log).to_contain_text(vouchers[0].code)
    await expect(log).to_contain_text("soko-hap")
    # Nothing chosen: a sentence, nothing sent.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#disconnect-chosen")
    await expect(page.locator(".alert-danger")).to_contain_text("Choose the sessions")
    assert not errors, errors


async def test_vouchers_are_made_printed_found_and_revoked_from_their_pages(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    await make_plan(tenant=tenant, name="Saa Moja")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/vouchers"))
    await page.fill("#count", "0")
    await page.click("#generate")
    await expect(page.locator(".alert-danger")).to_contain_text("count")
    await expect(page.locator("#count")).to_have_value("0")
    await page.fill("#count", "5")
    await page.click("#generate")
    await expect(page.locator("#new-batch")).to_contain_text("5 vouchers made")
    codes = (await page.locator("#new-codes").inner_text()).split()
    assert len(codes) == 5
    await screenshot(page, "admin-vouchers-390")
    await page.click("#print-sheet")  # the printable sheet, its cards holding the codes
    await expect(page.locator("body")).to_contain_text(codes[0])
    await page.goto(admin_url(tenant.slug, "/admin/vouchers"))

    await page.fill("#q", codes[0].lower())
    await page.click("#search")
    await page.locator(f'.voucher[data-code="{codes[0]}"] a').click()
    await expect(page).to_have_url(re.compile(rf"/admin/vouchers/{codes[0]}$"))
    await expect(page.locator("#state")).to_have_text("unused")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#revoke")
    await expect(page.locator(".alert-success")).to_contain_text("Revoked")
    await expect(page.locator("#state")).to_have_text("revoked")
    await screenshot(page, "admin-voucher-390")
    assert not errors, errors

    # Support sells but cannot revoke: no button, and the form's route is refused.
    other, support_page = await signed_in_elsewhere(context, tenant.slug, support.email)
    await support_page.goto(admin_url(tenant.slug, f"/admin/vouchers/{codes[1]}"))
    await expect(support_page.locator("#revoke")).to_have_count(0)
    await expect(support_page.locator("#state")).to_have_text("unused")
    await support_page.goto(admin_url(tenant.slug, "/admin/vouchers"))
    await expect(support_page.locator("#generate")).to_be_visible()
    await other.close()


async def test_a_sold_voucher_is_found_by_phone_as_one_types_and_by_receipt(page: Page) -> None:
    errors = watch_errors(page)
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    buyer = phone()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}") as http:
        started = (await buy(http, shop, buyer)).json()
        paid = await wait_status(http, shop, started["id"], "paid")
    code = paid["voucher"]["code"]
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/vouchers"))
    found = page.locator(f'.voucher[data-code="{code}"]')
    # As one types (htmx): halfway, what to type; then the phone as people write it.
    await page.locator("#q").press_sequentially("07")
    await expect(page.locator("#search-problem")).to_contain_text("phone")
    await page.fill("#q", "")
    await page.locator("#q").press_sequentially("0" + buyer[3:6] + " " + buyer[6:])
    await expect(found).to_be_visible()
    await expect(page.locator("#vouchers .voucher")).to_have_count(1)
    await expect(page.locator("#search-problem")).to_have_count(0)
    await screenshot(page, "admin-voucher-search-390")
    # The receipt, by the form itself (the page without script works the same way).
    await page.fill("#q", paid["receipt"].lower())
    await page.click("#search")
    await expect(page).to_have_url(re.compile(r"/admin/vouchers\?q="))
    await expect(page.locator("#vouchers .voucher")).to_have_count(1)
    await found.locator("a").click()
    await expect(page).to_have_url(re.compile(rf"/admin/vouchers/{code}$"))
    await expect(page.locator("#state")).to_be_visible()
    assert not errors, errors


async def test_packages_are_created_repriced_and_retired_from_their_page(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="admin")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/plans"))
    await page.fill("#plan-name", "Siku Moja")
    await page.fill("#plan-price", "50")
    await page.fill("#plan-duration", "1 fortnight")
    await page.click("#create-plan")
    await expect(page.locator(".alert-danger")).to_contain_text("invalid duration")
    await expect(page.locator("#plan-name")).to_have_value("Siku Moja")
    await page.fill("#plan-duration", "1d")
    await page.click("#create-plan")
    plan = page.locator('.plan[data-name="Siku Moja"]')
    await expect(plan).to_contain_text("KES 50")
    await expect(plan).to_contain_text("24 h · 1M/2M")
    await plan.locator('input[name="price"]').fill("60")
    await plan.locator(".save-price").click()
    await expect(plan).to_contain_text("KES 60")
    page.once("dialog", lambda dialog: dialog.accept())
    await plan.locator(".retire").click()
    await expect(plan.locator(".retired")).to_be_visible()
    await screenshot(page, "admin-plans-390")
    assert not errors, errors


async def test_a_paid_purchase_shows_on_the_payments_page_with_its_voucher(page: Page) -> None:
    errors = watch_errors(page)
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}") as http:
        started = (await buy(http, shop, phone())).json()
        paid = await wait_status(http, shop, started["id"], "paid")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/payments"))
    row = page.locator(f'.payment[data-receipt="{paid["receipt"]}"]')
    await expect(row).to_contain_text(f"KES {shop.price}")
    await expect(row.locator(".voucher")).to_have_text(paid["voucher"]["code"])
    await expect(page.locator("#money-check")).to_contain_text("exactly one")
    await screenshot(page, "admin-payments-390")
    await row.locator(".voucher").click()
    await expect(page.locator("#state")).to_be_visible()
    # The home page: today's money and what sold.
    await page.goto(admin_url(tenant.slug))
    await expect(page.locator("#today")).to_have_text(f"KES {shop.price:,.0f}")
    await expect(page.locator("#by-plan")).to_contain_text(": 1 · KES")
    await screenshot(page, "admin-home-figures-390")
    assert not errors, errors


async def test_settings_and_the_mpesa_account_are_saved_and_tested_from_their_page(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/settings"))
    await page.fill("#unused_voucher_days", "0")
    await page.click("#save-settings")
    await expect(page.locator(".alert-danger")).to_contain_text("unused_voucher_days")
    await expect(page.locator("#unused_voucher_days")).to_have_value("0")
    await page.fill("#unused_voucher_days", "45")
    await page.click("#save-settings")
    await expect(page.locator(".alert-success")).to_contain_text("saved")
    await expect(page.locator("#unused_voucher_days")).to_have_value("45")

    await expect(page.locator("#mpesa-state")).to_contain_text("Not set up")
    await page.fill("#shortcode", "174379")
    await page.fill("#consumer_key", DEMO_CONSUMER_KEY)
    await page.fill("#consumer_secret", DEMO_CONSUMER_SECRET)
    await page.fill("#passkey", SANDBOX_PASSKEY)
    await page.click("#save-mpesa")
    await expect(page.locator("#mpesa-state")).to_contain_text("consumer key stored")
    assert DEMO_CONSUMER_SECRET not in await page.content()  # write-only
    await page.click("#test-mpesa")
    await expect(page.locator("#notice")).to_contain_text("Daraja accepted")
    await screenshot(page, "admin-settings-390")
    assert not errors, errors

    other, support_page = await signed_in_elsewhere(context, tenant.slug, support.email)
    response = await support_page.goto(admin_url(tenant.slug, "/admin/settings"))
    assert response is not None and response.status == 403
    await other.close()


async def test_promo_codes_and_fair_usage_rules_are_made_and_stopped_from_their_page(
    page: Page,
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    await make_plan(tenant=tenant)
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/promos"))
    await page.fill("#promo-code", "k!")
    await page.fill("#promo-value", "10")
    await page.click("#create-promo")
    await expect(page.locator(".alert-danger")).to_contain_text("code")
    await page.fill("#promo-code", "karibu10")
    await page.fill("#promo-value", "10")
    await page.click("#create-promo")
    promo = page.locator('.promo[data-code="KARIBU10"]')
    await expect(promo).to_contain_text("10% off")
    page.once("dialog", lambda dialog: dialog.accept())
    await promo.locator(".stop-promo").click()
    await expect(promo.locator(".status")).not_to_have_text("active")

    await page.fill("#rule-threshold", "40")
    await page.fill("#rule-rate", "fast")
    await page.click("#create-rule")
    await expect(page.locator(".alert-danger")).to_contain_text("rate_limit")
    await page.fill("#rule-rate", "2M/2M")
    await page.click("#create-rule")
    await expect(page.locator("#rules .rule")).to_contain_text("Above 40 online per router: 2M/2M")
    await screenshot(page, "admin-promos-390")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.locator(".retire-rule").click()
    await expect(page.locator("#rules .rule")).to_have_count(0)
    assert not errors, errors


async def test_on_a_phone_the_menu_opens_every_section_the_role_may_see(page: Page) -> None:
    tenant = await make_tenant()
    tech = await make_staff(tenant=tenant, role="tech")
    await sign_in(page, tenant.slug, tech.email)
    await page.goto(admin_url(tenant.slug, "/admin/account"))
    await page.locator("#menu summary").click()
    labels = await page.locator("#menu a").all_inner_texts()
    # a tech: no money, no staff, no settings; their subscribers and zones
    assert labels == ["Sessions", "Subscribers", "Zones", "Routers"], labels
    await screenshot(page, "admin-menu-390")
    await page.locator("#menu a", has_text="Routers").click()
    await expect(page).to_have_url(re.compile(r"/admin/routers$"))
