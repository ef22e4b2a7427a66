"""The ISP's dashboard in a real browser (Debian's chromium at a phone's 390 px, and a desk's
1280 px): signing in with the password and then the authenticator's code, setting up the
authenticator from its QR code's key, recovery codes, "where I am signed in", the dark mode
remembered across a reload, and no console errors on any page."""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pyotp
import pytest
from playwright.async_api import BrowserContext, Page, expect

from api.config import get_settings
from api.db import unit_of_work
from api.staff import invites
from api.staff.schemas import InviteIn
from api.tenancy import Principal
from deploy.fakes.daraja_state import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, SANDBOX_PASSKEY
from tests.browser.conftest import API_PORT, screenshot
from tests.factories import (
    PASSWORD,
    accounting,
    mailed_token,
    make_plan,
    make_router,
    make_staff,
    make_tenant,
    make_voucher,
    random_ip,
)
from tests.payshop import buy, make_shop, phone, shop_tenant, wait_status


def admin_url(slug: str, path: str = "/admin/") -> str:
    return f"http://{slug}.{get_settings().base_domain}:{API_PORT}{path}"


def _errors(page: Page) -> list[str]:
    """Console errors and failed assets of every page the test opens. A page itself answered
    with 4xx (a form re-shown with what to fix) is meant; chromium logs it as "Failed to load
    resource", so those lines are judged by the response instead: only assets count."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: (
            seen.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on(
        "response",
        lambda r: (
            seen.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    return seen


async def _sign_in(page: Page, slug: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(admin_url(slug))
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#sign-in")


async def test_an_owner_signs_in_sets_up_an_authenticator_and_signs_in_with_it(
    page: Page, context: BrowserContext
) -> None:
    errors = _errors(page)
    tenant = await make_tenant(name="Kilimo WiFi")
    owner = await make_staff(tenant=tenant, role="owner")

    # A wrong password: the form says so and keeps the e-mail.
    await _sign_in(page, tenant.slug, owner.email, "not the password at all")
    await expect(page.locator(".alert-danger")).to_contain_text("Wrong email, password or ISP")
    await expect(page.locator("#email")).to_have_value(owner.email)
    await screenshot(page, "admin-login-error-390")

    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    await expect(page.locator("h1")).to_have_text("Kilimo WiFi")
    await screenshot(page, "admin-home-390")

    await page.click("#go-account")
    await expect(page.locator("#factor-state")).to_contain_text("Off")
    await page.click("#start-totp")
    await expect(page.locator(".qr svg")).to_be_visible()
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    await screenshot(page, "admin-totp-setup-390")
    await page.fill("#code", "000000")
    await page.click("#confirm-totp")
    await expect(page.locator(".alert-danger")).to_contain_text("not right")
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.click("#confirm-totp")
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    await screenshot(page, "admin-recovery-codes-390")
    await page.click("#done")

    # Signing out, then in again: the password, then the authenticator's code.
    await page.click("#sign-out")
    await expect(page.locator(".alert-info")).to_contain_text("signed out")
    await _sign_in(page, tenant.slug, owner.email)
    await expect(page).to_have_url(re.compile(r"/admin/login/code$"))
    await screenshot(page, "admin-code-390")
    # The next step's code: the current one was spent turning the authenticator on.
    await page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    await page.click("#verify")
    await expect(page).to_have_url(re.compile(r"/admin/$"))

    await page.goto(admin_url(tenant.slug, "/admin/account"))
    await expect(page.locator("#factor-state")).to_contain_text("authenticator app")
    await expect(page.locator("#sessions li")).to_have_count(1)
    await expect(page.locator("#sessions")).to_contain_text("this device")
    await screenshot(page, "admin-account-390")

    # Dark mode, remembered by this browser.
    await page.click("#theme-toggle")
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("data-bs-theme", "dark")
    await screenshot(page, "admin-account-dark-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-account-1280")
    assert not errors, errors


async def test_another_device_is_signed_out_from_my_account_and_the_password_changes(
    page: Page, context: BrowserContext
) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="admin")
    other = await context.browser.new_context()  # type: ignore[union-attr]
    other_page = await other.new_page()
    await _sign_in(other_page, tenant.slug, owner.email)
    await expect(other_page).to_have_url(re.compile(r"/admin/$"))

    await _sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/account"))
    await expect(page.locator("#sessions li")).to_have_count(2)
    page.once("dialog", lambda dialog: dialog.accept())  # "ask once"
    await page.locator(".end-session").click()
    await expect(page.locator(".alert-success")).to_contain_text("signed out")
    await expect(page.locator("#sessions li")).to_have_count(1)
    await other_page.reload()
    await expect(other_page).to_have_url(re.compile(r"/admin/login$"))
    await other.close()

    # A weak new password is refused with what to fix; a good one signs nothing else out.
    await page.fill("#current_password", PASSWORD)
    await page.fill("#new_password", "password123")
    await page.click("#change-password")
    await expect(page.locator(".alert-danger")).to_be_visible()
    await page.fill("#current_password", PASSWORD)
    await page.fill("#new_password", "a wholly new passphrase 42")
    await page.click("#change-password")
    await expect(page.locator(".alert-success")).to_contain_text("password is changed")
    assert not errors, errors


async def test_an_unknown_isp_has_no_dashboard(page: Page) -> None:
    response = await page.goto(admin_url("no-such-isp-here"))
    assert response is not None and response.status == 404
    await expect(page.locator("h1")).to_have_text("No ISP here")


@pytest.mark.parametrize("path", ["/admin/", "/admin/account"])
async def test_pages_lead_to_sign_in_when_signed_out(page: Page, path: str) -> None:
    tenant = await make_tenant()
    await page.goto(admin_url(tenant.slug, path))
    await expect(page).to_have_url(re.compile(r"/admin/login$"))


async def test_a_forgotten_password_is_reset_through_the_mailed_link(page: Page) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, role="support")
    await page.goto(admin_url(tenant.slug, "/admin/login"))
    await page.click("#forgot")
    await page.fill("#email", staff.email)
    await page.click("#send-link")
    await expect(page.locator("#sent")).to_contain_text("on its way")
    token = await mailed_token(staff.email, "reset-password")

    await page.goto(admin_url(tenant.slug, f"/admin/reset-password#token={token}"))
    await page.fill("#password", "password123")  # refused: the link still works
    await page.click("#set-password")
    await expect(page.locator(".alert-danger")).to_be_visible()
    await page.fill("#password", "a wholly new passphrase 42")
    await page.click("#set-password")
    await expect(page.locator(".alert-success")).to_contain_text("Sign in with it")
    await screenshot(page, "admin-password-reset-390")
    await page.fill("#email", staff.email)
    await page.fill("#password", "a wholly new passphrase 42")
    await page.click("#sign-in")
    await expect(page).to_have_url(re.compile(r"/admin/$"))
    assert not errors, errors


async def test_an_invitation_is_accepted_from_its_link(page: Page) -> None:
    errors = _errors(page)
    tenant = await make_tenant(name="Mtaani Net")
    owner = await make_staff(tenant=tenant, role="owner")
    email = f"new-{secrets.token_hex(4)}@example.com"
    async with unit_of_work() as session:
        await invites.invite(
            session, Principal(staff_id=owner.id, tenant_id=tenant.id, email=owner.email,
                               role="owner"),
            InviteIn(email=email, role="tech"), "http", None,
        )  # fmt: skip
    token = await mailed_token(email, "accept-invite")
    # Without the link's token the page says what is missing.
    await page.goto(admin_url(tenant.slug, "/admin/accept-invite"))
    await expect(page.locator("#no-token")).to_be_visible()
    await page.goto("about:blank")  # the link opens the page afresh, as from a message
    await page.goto(admin_url(tenant.slug, f"/admin/accept-invite#token={token}"))
    await expect(page.locator("h1")).to_have_text("Join Mtaani Net")
    await screenshot(page, "admin-accept-invite-390")
    await page.fill("#password", "karibu sana wote 2026")
    await page.click("#set-password")
    await expect(page.locator(".alert-success")).to_contain_text("Welcome")
    await page.fill("#email", email)
    await page.fill("#password", "karibu sana wote 2026")
    await page.click("#sign-in")
    await expect(page.locator("#nav-account")).to_be_visible()
    # Used: the same link again is refused with a sentence.
    await page.goto("about:blank")
    await page.goto(admin_url(tenant.slug, f"/admin/accept-invite#token={token}"))
    await page.fill("#password", "karibu sana wote 2026")
    await page.click("#set-password")
    await expect(page.locator(".alert-danger")).to_contain_text("already used")
    assert not errors, errors


async def test_an_owner_runs_the_staff_page_and_support_cannot_open_it(
    page: Page, context: BrowserContext
) -> None:
    errors = _errors(page)
    tenant = await make_tenant(name="Staff WiFi")
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    router = await make_router(tenant=tenant, name="kibera-hap")
    tech_email = f"tech-{secrets.token_hex(4)}@example.com"

    await _sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/staff"))
    # A mistake first: the form says what to fix and keeps what was typed.
    await page.fill("#invite-email", "not-an-email")
    await page.click("#send-invite")
    await expect(page.locator(".alert-danger")).to_contain_text("email")
    await expect(page.locator("#invite-email")).to_have_value("not-an-email")
    await page.fill("#invite-email", tech_email)
    await page.select_option("#invite-role", "tech")
    await page.click("#send-invite")
    await expect(page.locator(".alert-success")).to_contain_text("invitation is on its way")
    await expect(page.locator("#invites")).to_contain_text(tech_email)

    token = await mailed_token(tech_email, "accept-invite")
    joiner = await context.browser.new_context()  # type: ignore[union-attr]
    joiner_page = await joiner.new_page()
    await joiner_page.goto(admin_url(tenant.slug, f"/admin/accept-invite#token={token}"))
    await joiner_page.fill("#password", "karibu sana wote 2026")
    await joiner_page.click("#set-password")
    await expect(joiner_page.locator(".alert-success")).to_contain_text("Welcome")
    await joiner.close()

    await page.reload()
    tech = page.locator(f'.staff-member[data-email="{tech_email}"]')
    await expect(tech.locator(".role")).to_have_text("tech")
    await tech.locator(f'label:has-text("{router.name}")').click()
    await tech.locator(".save-routers").click()
    await expect(page.locator(".alert-success")).to_contain_text("Saved")
    await expect(tech).to_contain_text(f"routers: {router.id}")
    await screenshot(page, "admin-staff-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-staff-1280")
    await page.set_viewport_size({"width": 390, "height": 800})

    page.once("dialog", lambda dialog: dialog.accept())
    await tech.locator(".deactivate").click()
    await expect(tech).to_contain_text("deactivated")
    assert not errors, errors

    # Support sees no staff section and is refused the page with a sentence.
    other = await context.browser.new_context()  # type: ignore[union-attr]
    support_page = await other.new_page()
    await _sign_in(support_page, tenant.slug, support.email)
    await expect(support_page.locator("#sections")).not_to_contain_text("Staff")
    response = await support_page.goto(admin_url(tenant.slug, "/admin/staff"))
    assert response is not None and response.status == 403
    await expect(support_page.locator("#refusal")).to_contain_text("staff:read")
    await other.close()


async def test_an_api_token_is_made_shown_once_used_and_revoked_from_its_page(page: Page) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    admin = await make_staff(tenant=tenant, role="admin")
    await _sign_in(page, tenant.slug, admin.email)
    await page.goto(admin_url(tenant.slug, "/admin/tokens"))
    await page.fill("#token-name", "billing sync")
    await page.click("#create-token")  # no permission chosen: says what to fix
    await expect(page.locator(".alert-danger")).to_contain_text("at least one permission")
    await expect(page.locator("#token-name")).to_have_value("billing sync")
    await page.locator('label:has-text("plans:read")').click()
    await page.click("#create-token")
    token = (await page.locator("#new-token").inner_text()).strip()
    assert token.startswith("mnt_")
    await screenshot(page, "admin-tokens-390")
    await page.reload()  # shown once: a reload shows it no more
    await expect(page.locator("#new-token")).to_have_count(0)

    async with httpx.AsyncClient(base_url=admin_url(tenant.slug, "")) as http:
        bearer = {"Authorization": f"Bearer {token}", "Host": f"{tenant.slug}.mnetifi.com"}
        url = f"http://127.0.0.1:{API_PORT}/api/v1/plans"
        assert (await http.get(url, headers=bearer)).status_code == 200
        row = page.locator('.token[data-name="billing sync"]')
        page.once("dialog", lambda dialog: dialog.accept())
        await row.locator(".revoke").click()
        await expect(row).to_contain_text("revoked")
        assert (await http.get(url, headers=bearer)).status_code == 401
    assert not errors, errors


async def test_the_audit_log_is_filtered_and_exported_from_its_page(page: Page) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    await make_staff(tenant=tenant, role="tech")  # staff.create, audited as cli
    await _sign_in(page, tenant.slug, owner.email)
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
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    tech = await make_staff(tenant=tenant, role="tech")
    await make_router(tenant=tenant, name="not-yours")
    await _sign_in(page, tenant.slug, owner.email)
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
    other = await context.browser.new_context()  # type: ignore[union-attr]
    tech_page = await other.new_page()
    await _sign_in(tech_page, tenant.slug, tech.email)
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
    errors = _errors(page)
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
    await _sign_in(page, tenant.slug, owner.email)
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
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    await make_plan(tenant=tenant, name="Saa Moja")
    await _sign_in(page, tenant.slug, owner.email)
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

    await page.fill("#find-code", codes[0].lower())
    await page.click("#find")
    await expect(page).to_have_url(re.compile(rf"/admin/vouchers/{codes[0]}$"))
    await expect(page.locator("#state")).to_have_text("unused")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#revoke")
    await expect(page.locator(".alert-success")).to_contain_text("Revoked")
    await expect(page.locator("#state")).to_have_text("revoked")
    await screenshot(page, "admin-voucher-390")
    assert not errors, errors

    # Support sells but cannot revoke: no button, and the form's route is refused.
    other = await context.browser.new_context()  # type: ignore[union-attr]
    support_page = await other.new_page()
    await _sign_in(support_page, tenant.slug, support.email)
    await support_page.goto(admin_url(tenant.slug, f"/admin/vouchers/{codes[1]}"))
    await expect(support_page.locator("#revoke")).to_have_count(0)
    await expect(support_page.locator("#state")).to_have_text("unused")
    await support_page.goto(admin_url(tenant.slug, "/admin/vouchers"))
    await expect(support_page.locator("#generate")).to_be_visible()
    await other.close()


async def test_packages_are_created_repriced_and_retired_from_their_page(page: Page) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="admin")
    await _sign_in(page, tenant.slug, owner.email)
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
    errors = _errors(page)
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}") as http:
        started = (await buy(http, shop, phone())).json()
        paid = await wait_status(http, shop, started["id"], "paid")
    await _sign_in(page, tenant.slug, owner.email)
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
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    await _sign_in(page, tenant.slug, owner.email)
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

    other = await context.browser.new_context()  # type: ignore[union-attr]
    support_page = await other.new_page()
    await _sign_in(support_page, tenant.slug, support.email)
    response = await support_page.goto(admin_url(tenant.slug, "/admin/settings"))
    assert response is not None and response.status == 403
    await other.close()


async def test_promo_codes_and_fair_usage_rules_are_made_and_stopped_from_their_page(
    page: Page,
) -> None:
    errors = _errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    await make_plan(tenant=tenant)
    await _sign_in(page, tenant.slug, owner.email)
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
    await _sign_in(page, tenant.slug, tech.email)
    await page.goto(admin_url(tenant.slug, "/admin/account"))
    await page.locator("#menu summary").click()
    labels = await page.locator("#menu a").all_inner_texts()
    assert labels == ["Sessions", "Routers"], labels  # a tech: no money, no staff, no settings
    await screenshot(page, "admin-menu-390")
    await page.locator("#menu a", has_text="Routers").click()
    await expect(page).to_have_url(re.compile(r"/admin/routers$"))
