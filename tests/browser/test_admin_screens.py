"""Every screen of the dashboard in a real browser, at a phone's 390 px and a desk's 1280 px,
on an ISP with something in every list: each opens without a console error or a failed asset,
nothing is wider than the screen, and each is saved as a screenshot
(artifacts/screenshots/admin-screen-<name>-<width>.png). A tech's sessions page lists only the
sessions of the routers allocated to them."""

from __future__ import annotations

import secrets

from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import accounting, make_plan, make_router, make_staff, make_voucher
from tests.payshop import make_shop, shop_tenant
from tests.radius.conftest import sql

SCREENS = {
    "home": "/admin/",
    "vouchers": "/admin/vouchers",
    "voucher": "/admin/vouchers/{code}",
    "packages": "/admin/plans",
    "promos": "/admin/promos",
    "sessions": "/admin/sessions",
    "payments": "/admin/payments",
    "routers": "/admin/routers",
    "staff": "/admin/staff",
    "messages": "/admin/messages",
    "settings": "/admin/settings",
    "sms": "/admin/settings/sms",
    "branding": "/admin/settings/branding",
    "audit": "/admin/audit",
    "tokens": "/admin/tokens",
    "account": "/admin/account",
}


async def test_every_screen_at_390_and_1280_px(page: Page, context: BrowserContext) -> None:
    errors = watch_errors(page)
    shop = await make_shop(price=20)
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    tech = await make_staff(tenant=tenant, role="tech")
    await sql("UPDATE tenant SET name = 'Soko Hotspot' WHERE id = :t", t=tenant.id)
    mine = await make_router(tenant=tenant, name="tech-router")
    theirs = await make_router(tenant=tenant, name="other-router")
    await sql("INSERT INTO staff_router (tenant_id, staff_id, router_id) VALUES (:t, :s, :r)",
              t=tenant.id, s=tech.id, r=mine.id)  # fmt: skip
    plan = await make_plan(tenant=tenant, name="Siku Moja", price=50, duration_seconds=86400)
    vouchers = [await make_voucher(plan=plan) for _ in range(3)]
    for router, voucher in zip((mine, theirs), vouchers, strict=False):
        await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                         username=voucher.code, unique=secrets.token_hex(4))  # fmt: skip
    await sql("INSERT INTO payment (tenant_id, source, receipt, amount, phone, status, note) "
              "VALUES (:t, 'c2b', :r, 45, '254712345678', 'held', 'held: no package costs 45')",
              t=tenant.id, r="SCR" + secrets.token_hex(4).upper())  # fmt: skip

    await sign_in(page, shop.slug, owner.email)
    await expect(page.locator("#online-now")).to_have_text("2")
    for width, height in ((390, 844), (1280, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        for name, path in SCREENS.items():
            response = await page.goto(admin_url(shop.slug, path.format(code=vouchers[0].code)))
            assert response is not None and response.status == 200, (name, width)
            await expect(page.locator("h1").first).to_be_visible()
            wider = await page.evaluate("document.documentElement.scrollWidth")
            assert wider <= width, f"{name} is {wider} px wide at {width} px"
            # An id names one element (the layout's and the page's must not collide).
            twice = await page.evaluate(
                "[...document.querySelectorAll('[id]')].map(e => e.id)"
                ".filter((id, i, all) => all.indexOf(id) !== i)"
            )
            assert not twice, f"{name}: ids used twice: {twice}"
            await screenshot(page, f"admin-screen-{name}-{width}")
    assert not errors, errors

    other, tech_page = await signed_in_elsewhere(context, shop.slug, tech.email)
    await tech_page.goto(admin_url(shop.slug, "/admin/sessions"))
    await expect(tech_page.locator("#sessions .session")).to_have_count(1)
    await expect(tech_page.locator("#sessions")).to_contain_text("tech-router")
    await expect(tech_page.locator("#sessions")).not_to_contain_text("other-router")
    await expect(tech_page.locator("#router option")).to_have_count(2)  # "all" and theirs
    await other.close()
