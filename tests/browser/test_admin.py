"""The dashboard in a real browser (Debian's chromium at a phone's 390 px, and a desk's 1280 px):
who signs in and how. Signing in with the password and then the authenticator's code, setting
it up from its QR code's key, recovery codes, "where I am signed in", the dark mode remembered
across a reload, forgotten passwords and invitations by their mailed links, the staff page and
API tokens; no console errors on any page."""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pyotp
import pytest
from playwright.async_api import BrowserContext, Page, expect

from api.db import unit_of_work
from api.staff import invites
from api.staff.schemas import InviteIn
from api.tenancy import Principal
from tests.browser.conftest import API_PORT, screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import (
    PASSWORD,
    mailed_token,
    make_router,
    make_staff,
    make_tenant,
)


async def test_an_owner_signs_in_sets_up_an_authenticator_and_signs_in_with_it(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant(name="Kilimo WiFi")
    owner = await make_staff(tenant=tenant, role="owner")

    # A wrong password: the form says so and keeps the e-mail.
    await sign_in(page, tenant.slug, owner.email, "not the password at all")
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
    await sign_in(page, tenant.slug, owner.email)
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
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="admin")
    other, other_page = await signed_in_elsewhere(context, tenant.slug, owner.email)
    await expect(other_page).to_have_url(re.compile(r"/admin/$"))

    await sign_in(page, tenant.slug, owner.email)
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
    errors = watch_errors(page)
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
    errors = watch_errors(page)
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
    errors = watch_errors(page)
    tenant = await make_tenant(name="Staff WiFi")
    owner = await make_staff(tenant=tenant, role="owner")
    support = await make_staff(tenant=tenant, role="support")
    router = await make_router(tenant=tenant, name="kibera-hap")
    tech_email = f"tech-{secrets.token_hex(4)}@example.com"

    await sign_in(page, tenant.slug, owner.email)
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
    await expect(tech.locator(".tech-routers")).to_have_text(router.name)
    await screenshot(page, "admin-staff-390")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-staff-1280")
    await page.set_viewport_size({"width": 390, "height": 800})

    page.once("dialog", lambda dialog: dialog.accept())
    await tech.locator(".deactivate").click()
    await expect(tech).to_contain_text("deactivated")
    assert not errors, errors

    # Support sees no staff section and is refused the page with a sentence.
    other, support_page = await signed_in_elsewhere(context, tenant.slug, support.email)
    await expect(support_page.locator("#sections")).not_to_contain_text("Staff")
    response = await support_page.goto(admin_url(tenant.slug, "/admin/staff"))
    assert response is not None and response.status == 403
    await expect(support_page.locator("#refusal")).to_contain_text("staff:read")
    await other.close()


async def test_an_api_token_is_made_shown_once_used_and_revoked_from_its_page(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    admin = await make_staff(tenant=tenant, role="admin")
    await sign_in(page, tenant.slug, admin.email)
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
