"""The dashboard's acceptance walk in a real browser, end to end on the real stack: an owner
makes a batch of vouchers and prints its sheet; a customer logs one of them in through the
RouterOS hotspot simulator (radius/hotspot.py: FreeRADIUS answers, the router sends its
Accounting-Start); the owner's open dashboard shows the customer online without a reload; the
owner revokes the voucher and the sessions page shows the Disconnect and the router's answer
(radius/router_sim.py plays the router's CoA port)."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, expect

from radius.hotspot import HotspotSimulator
from radius.router_sim import RouterSim
from tests.browser.conftest import screenshot
from tests.browser.dashboard import admin_url, sign_in, watch_errors
from tests.browser.test_portal import expect_online, from_router
from tests.factories import make_staff
from tests.payshop import Shop, shop_tenant
from tests.radius.conftest import sql

LIVE_WAIT = 15_000  # ms: the figures are re-read every 5 s


async def test_a_voucher_from_the_sheet_goes_online_live_and_its_revoke_disconnects_it(
    page: Page, context: BrowserContext, shop: Shop, hotspot: HotspotSimulator
) -> None:
    errors = watch_errors(page)
    owner = await make_staff(tenant=await shop_tenant(shop), role="owner")
    # The router's CoA port (RouterOS's /radius incoming), on the hotspot router's address.
    coa = RouterSim(hotspot.router.address, hotspot.router.secret.encode())
    await coa.start()
    await sql("UPDATE router SET coa_port = :p WHERE ip_address = :a AND tenant_id = :t",
              p=coa.port, a=hotspot.router.address, t=shop.tenant_id)  # fmt: skip
    try:
        await sign_in(page, shop.slug, owner.email)
        await page.goto(admin_url(shop.slug, "/admin/vouchers"))
        await page.fill("#count", "3")
        await page.click("#generate")
        await expect(page.locator("#new-batch")).to_contain_text("3 vouchers made")
        code = (await page.locator("#new-codes").inner_text()).split()[0]
        await page.click("#print-sheet")
        await expect(page.locator("body")).to_contain_text(code)

        # The owner's dashboard, open before the customer arrives; marked to prove no reload.
        await page.goto(admin_url(shop.slug))
        await expect(page.locator("#online-now")).to_have_text("0")
        await page.evaluate("window.stillTheSamePage = true")

        browser = context.browser
        assert browser is not None
        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        customer = await phone.new_page()
        await from_router(customer, shop, hotspot)
        await customer.fill("#code", code)
        await customer.click("#connect")
        await expect_online(customer, shop, code)
        await phone.close()
        login = hotspot.logins[-1]
        coa.sessions[login.session_id] = {"User-Name": code}  # the router holds the session

        await expect(page.locator("#online-now")).to_have_text("1", timeout=LIVE_WAIT)
        await expect(page.locator("#router-figures")).to_contain_text("1 online")
        assert await page.evaluate("window.stillTheSamePage === true")
        await screenshot(page, "admin-home-live-390")
        await page.set_viewport_size({"width": 1280, "height": 900})
        await screenshot(page, "admin-home-live-1280")
        await page.set_viewport_size({"width": 390, "height": 844})

        await page.goto(admin_url(shop.slug, f"/admin/vouchers/{code}"))
        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("#revoke")
        await expect(page.locator("#state")).to_have_text("revoked")

        await page.goto(admin_url(shop.slug, "/admin/sessions"))
        entry = page.locator("#control-log .control").first
        await expect(entry).to_contain_text("disconnect")
        await expect(entry).to_contain_text(code)
        for _ in range(20):  # the router answers after the commit; the page shows it once in
            if (await entry.locator(".answer").inner_text()) == "ack":
                break
            await page.wait_for_timeout(500)
            await page.reload()
        await expect(entry.locator(".answer")).to_have_text("ack")
        # One Disconnect-Request reached the router, naming the session, and was ACKed.
        assert [(r.code, r.answer) for r in coa.received] == [("disconnect", "ack")]
        assert login.session_id not in coa.sessions  # and ended the session on the router
        await screenshot(page, "admin-sessions-log-390")
        assert not errors, errors
    finally:
        await coa.stop()
