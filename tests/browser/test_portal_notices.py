"""The online page's live notices (issue 15): once the customer's own voucher crosses the ISP's
usage threshold (FreeRADIUS records the crossing interim) the page says so, in the portal's
language, without a reload; an outage staff announce at the router the phone is online at shows
the same way, and one at another router does not."""

from __future__ import annotations

import secrets
from types import SimpleNamespace

from playwright.async_api import Page, expect

from radius.hotspot import HotspotSimulator
from tests.browser.conftest import screenshot
from tests.browser.test_portal import expect_online, from_router, new_voucher
from tests.factories import make_router
from tests.payshop import Shop
from tests.radius.conftest import sql
from tests.radius.radclient import accounting_request, send

GIB = 1024**3


async def _back_to_the_page(page: Page) -> None:
    """The customer returns to the tab (the page refreshes on visibilitychange as on its 30 s
    timer; the test does not wait 30 s)."""
    await page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


async def test_usage_and_outage_notices_appear_live(
    page: Page, shop: Shop, hotspot: HotspotSimulator
):
    await sql("UPDATE plan SET data_quota_bytes = :q WHERE id = :p", q=GIB, p=shop.plan_id)
    code = await new_voucher(shop)
    await from_router(page, shop, hotspot)
    await page.fill("#code", code)
    await page.click("#connect")
    await expect_online(page, shop, code)
    notices = page.locator("#live-notices .notice")
    await expect(notices).to_have_count(0)

    # The phone uses 93% of its 1 GiB: the router's interim crosses the ISP's 90%.
    router = hotspot.router
    session = secrets.token_hex(4)
    for status, used in (("Start", 0), ("Interim-Update", int(GIB * 0.93))):
        counters = {"Acct-Input-Octets": used, "Acct-Session-Time": 60}
        packet = accounting_request(code, status, session_id=session, mac=hotspot.phone.mac,
                                    **counters)  # fmt: skip
        assert send("acct", packet, src=router.address, secret=router.secret).code
    await _back_to_the_page(page)
    usage = page.locator('#live-notices .notice[data-kind="usage"]')
    await expect(usage).to_have_text(
        "You have used 90% of your data. Buy more below to stay online."
    )

    # An outage at another router of the ISP is not this customer's; one at theirs is.
    elsewhere = await make_router(tenant=SimpleNamespace(id=shop.tenant_id))
    await _announce(shop, elsewhere.id, "Maintenance at the market mast tonight")
    await _announce(shop, await _router_id(shop, router.address), "Fibre cut near you; fixing")
    await _back_to_the_page(page)
    outage = page.locator('#live-notices .notice[data-kind="outage"]')
    await expect(outage).to_have_text(["Fibre cut near you; fixing"])
    await page.set_viewport_size({"width": 390, "height": 844})
    await screenshot(page, "portal-online-notices-390")


async def _router_id(shop: Shop, address: str) -> int:
    [row] = await sql("SELECT id FROM router WHERE tenant_id = :t AND ip_address = :a",
                      t=shop.tenant_id, a=address)  # fmt: skip
    return int(row["id"])


async def _announce(shop: Shop, router_id: int, message: str) -> None:
    await sql("INSERT INTO outage (tenant_id, router_id, message, created_by) "
              "VALUES (:t, :r, :m, 'test')", t=shop.tenant_id, r=router_id, m=message)  # fmt: skip
