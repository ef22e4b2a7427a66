"""The subscriber pages in a real browser (Debian's chromium, a phone's 390 px, then a desk's
1280 px): an owner draws a zone, adds a monthly plan, adds a PPPoE subscriber in the zone (a
wrong username first: the form says what to fix beside the field), sees its password once,
suspends and resumes it after the confirmation, moves it to another router choosing from a
list; a tech allocated zone A sees only zone A's subscribers and gets the not-found page for
zone B's. Screenshots: admin-subscribers-*, admin-subscriber-*, admin-zones-*, admin-network-*."""

from __future__ import annotations

from playwright.async_api import BrowserContext, Page, expect

from tests.browser.conftest import screenshot
from tests.browser.dashboard import admin_url, sign_in, signed_in_elsewhere, watch_errors
from tests.factories import make_router, make_staff, make_tenant
from tests.radius.conftest import sql


async def _wide_enough(page: Page, width: int, name: str) -> None:
    wider = await page.evaluate("document.documentElement.scrollWidth")
    assert wider <= width, f"{name} is {wider} px wide at {width} px"


async def test_an_owner_adds_suspends_resumes_and_moves_a_pppoe_subscriber(page: Page) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant(name="Kibera Net")
    owner = await make_staff(tenant=tenant, role="owner")
    await make_router(tenant=tenant, name="olympic-hap")
    await make_router(tenant=tenant, name="soweto-hap")
    await sign_in(page, tenant.slug, owner.email)

    await page.goto(admin_url(tenant.slug, "/admin/zones"))
    await page.fill("#new-name", "Nairobi")
    await page.click("#add-zone")
    await expect(page.locator(".alert-success")).to_be_visible()
    await page.fill("#new-name", "Kibera")
    await page.select_option("#new-parent", label="Nairobi")
    await page.fill("#new-lat", "-1.3133")
    await page.fill("#new-lon", "36.7892")
    await page.click("#add-zone")
    await expect(page.locator('.zone[data-name="Kibera"]')).to_be_visible()
    await page.fill("#new-name", "Bad outline")
    await page.fill("#new-outline", '{"type": "Polygon", "coordinates": [[[36.7, -1.3]]]}')
    await page.click("#add-zone")
    await expect(page.locator(".alert-danger")).to_contain_text("at least 4 positions")
    await screenshot(page, "admin-zones-390")

    await page.goto(admin_url(tenant.slug, "/admin/network"))
    await page.fill("#plan-name", "Home 10M")
    await page.fill("#plan-price", "2500")
    await page.fill("#plan-down", "10M")
    await page.fill("#plan-up", "5M")
    await page.click("#add-plan")
    await expect(page.locator('.monthly-plan[data-name="Home 10M"]')).to_contain_text("5M/10M")
    await page.fill("#pool-name", "Kibera static")
    await page.fill("#pool-cidr", "10.20.0.0/24")
    await page.click("#add-pool")
    await expect(page.locator('.pool[data-name="Kibera static"]')).to_be_visible()
    await screenshot(page, "admin-network-390")

    await page.goto(admin_url(tenant.slug, "/admin/subscribers"))
    await page.click("#add-subscriber")
    await page.fill("#f-username", "amina otieno")  # a space: refused
    await page.fill("#f-name", "Amina Otieno")
    await page.fill("#f-phone", "0712 345 678")
    await page.select_option("#f-zone_id", label="Kibera")
    await page.select_option("#f-router_id", label="olympic-hap")
    await page.click("#save-subscriber")
    await expect(page.locator("#e-username")).to_contain_text("no spaces")
    await expect(page.locator("#f-name")).to_have_value("Amina Otieno")
    await screenshot(page, "admin-subscriber-form-errors-390")
    await page.fill("#f-username", "amina.otieno")
    await page.click("#save-subscriber")
    password = (await page.locator("#new-password").inner_text()).strip()
    assert len(password) == 12
    await expect(page.locator("#zone")).to_have_text("Kibera")
    await expect(page.locator("#router")).to_have_text("olympic-hap")

    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#suspend")
    await expect(page.locator("#state")).to_have_text("suspended")
    assert password not in await page.content(), "the password is shown once"
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#resume")
    await expect(page.locator("#state")).to_have_text("active")

    await page.select_option("#move-router", label="soweto-hap")
    await page.click("#save-move")
    await expect(page.locator(".alert-success")).to_contain_text("Moved")
    await expect(page.locator("#router")).to_have_text("soweto-hap")
    await expect(page.locator("#zone")).to_have_text("Kibera")
    [row] = await sql("SELECT status, phone FROM subscriber WHERE tenant_id = :t", t=tenant.id)
    assert row["status"] == "active" and row["phone"] == "254712345678"
    actions = await sql("SELECT action FROM audit_event WHERE tenant_id = :t AND action LIKE "
                        "'subscriber.%' ORDER BY id", t=tenant.id)  # fmt: skip
    assert [a["action"] for a in actions] == ["subscriber.create", "subscriber.suspend",
                                              "subscriber.resume", "subscriber.update"]  # fmt: skip

    # An outage in the zone, from the routers page (nobody is online there: nobody told).
    await page.goto(admin_url(tenant.slug, "/admin/routers"))
    await page.select_option("#outage-place", label="Kibera")
    await page.fill("#outage-message", "Fibre cut at Olympic; back by 6 pm")
    await page.click("#announce")
    outage = page.locator("#outage-list .outage").first
    await expect(outage.locator(".where")).to_have_text("zone Kibera")
    [told] = await sql("SELECT zone_id FROM outage WHERE tenant_id = :t", t=tenant.id)
    assert told["zone_id"] is not None
    await outage.locator(".end-outage").click()
    await expect(page.locator("#outage-list .outage").first).to_contain_text("ended")

    for width, height in ((390, 844), (1280, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        for name, path in (("subscribers", "/admin/subscribers"), ("zones", "/admin/zones"),
                           ("network", "/admin/network"), ("routers", "/admin/routers"),
                           ("subscriber-new", "/admin/subscribers/new")):  # fmt: skip
            await page.goto(admin_url(tenant.slug, path))
            await _wide_enough(page, width, name)
            await screenshot(page, f"admin-subpages-{name}-{width}")
        await page.goto(admin_url(tenant.slug, "/admin/subscribers"))
        await page.click('.subscriber[data-username="amina.otieno"] .username')
        await expect(page.locator("#username")).to_have_text("amina.otieno")
        await _wide_enough(page, width, "subscriber")
        await screenshot(page, f"admin-subscriber-{width}")
    assert not errors, errors


async def test_a_tech_sees_only_their_zones_subscribers(
    page: Page, context: BrowserContext
) -> None:
    errors = watch_errors(page)
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    tech = await make_staff(tenant=tenant, role="tech")
    await sign_in(page, tenant.slug, owner.email)
    await page.goto(admin_url(tenant.slug, "/admin/network"))
    for field, value in (("#plan-name", "Biashara"), ("#plan-price", "4000"),
                         ("#plan-down", "20M"), ("#plan-up", "10M")):  # fmt: skip
        await page.fill(field, value)
    await page.click("#add-plan")
    await page.goto(admin_url(tenant.slug, "/admin/zones"))
    for zone in ("Zone A", "Zone B"):
        await page.fill("#new-name", zone)
        await page.click("#add-zone")
        await expect(page.locator(f'.zone[data-name="{zone}"]')).to_be_visible()
    for username, zone in (("in-zone-a", "Zone A"), ("in-zone-b", "Zone B")):
        await page.goto(admin_url(tenant.slug, "/admin/subscribers/new"))
        await page.fill("#f-username", username)
        await page.fill("#f-name", f"Customer of {zone}")
        await page.select_option("#f-zone_id", label=zone)
        await page.click("#save-subscriber")
        await expect(page.locator("#username")).to_have_text(username)
    # The staff page: zone A for the tech, beside their routers.
    await page.goto(admin_url(tenant.slug, "/admin/staff"))
    member = page.locator(f'.staff-member[data-email="{tech.email}"]')
    await member.get_by_label("Zone A").check()
    await member.locator(".save-zones").click()
    await expect(
        page.locator(f'.staff-member[data-email="{tech.email}"] .tech-zones')
    ).to_have_text("Zone A")
    await screenshot(page, "admin-staff-zones-390")
    [b] = await sql("SELECT id FROM subscriber WHERE username = 'in-zone-b' AND tenant_id = :t",
                    t=tenant.id)  # fmt: skip

    other, tech_page = await signed_in_elsewhere(context, tenant.slug, tech.email)
    await tech_page.goto(admin_url(tenant.slug, "/admin/subscribers"))
    await expect(tech_page.locator("#subscribers .subscriber")).to_have_count(1)
    await expect(tech_page.locator("#subscribers")).to_contain_text("in-zone-a")
    await expect(tech_page.locator("#zone-filter option")).to_have_count(2)  # every, and A
    await screenshot(tech_page, "admin-subscribers-tech-390")
    await tech_page.click("#lang-switch")  # the tech reads Kiswahili
    await expect(tech_page.locator("h1")).to_have_text("Wateja wa mwezi")
    await expect(tech_page.locator("#subscribers .presence")).to_have_text("nje ya mtandao")
    await screenshot(tech_page, "admin-subscribers-tech-sw-390")
    refused = await tech_page.goto(admin_url(tenant.slug, f"/admin/subscribers/{b['id']}"))
    assert refused is not None and refused.status == 404
    await expect(tech_page.locator("body")).not_to_contain_text("in-zone-b")
    await other.close()
    assert not errors, errors


async def test_an_owner_sees_a_block_for_wrong_passwords_and_lifts_it(page: Page) -> None:
    """Five wrong PPPoE passwords from a guesser (the ISP's default limit, counted by the
    function FreeRADIUS calls) block the account for other devices; the list marks it, the
    subscriber's page says until when, in Nairobi time, and Unblock ends it after the
    confirmation (audited)."""
    errors = watch_errors(page)
    tenant = await make_tenant(name="Kayole Fibre")
    owner = await make_staff(tenant=tenant, role="owner")
    [plan] = await sql("INSERT INTO subscriber_plan (tenant_id, name, price, upload_kbps, "
                       "download_kbps, rate_limit) VALUES (:t, 'Home 5M', 1500, 2000, 5000, "
                       "'2M/5M') RETURNING id", t=tenant.id)  # fmt: skip
    [sub] = await sql("INSERT INTO subscriber (tenant_id, username, kind, encrypted_password, "
                      "name, plan_id, due_at) VALUES (:t, 'wanjiru.k', 'pppoe', '\\x00', "
                      "'Wanjiru K', :p, now() + interval '20 days') RETURNING id",
                      t=tenant.id, p=plan["id"])  # fmt: skip
    for _ in range(5):
        await sql("SELECT radius_password_failure(:t, 'Wanjiru.K', '02:66:00:00:00:01')",
                  t=str(tenant.id))  # fmt: skip
    await sign_in(page, tenant.slug, owner.email)

    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(admin_url(tenant.slug, "/admin/subscribers"))
    listed = page.locator('.subscriber[data-username="wanjiru.k"]')
    await expect(listed.locator(".login-blocked")).to_have_text("blocked")
    await _wide_enough(page, 390, "subscriber list")
    await screenshot(page, "admin-subscribers-blocked-390")
    await listed.locator(".username").click()
    notice = page.locator("#login-blocked")
    await expect(notice).to_contain_text("Too many wrong passwords")
    await expect(notice).to_contain_text("customer's own router")
    await _wide_enough(page, 390, "blocked subscriber")
    await screenshot(page, "admin-subscriber-blocked-390")
    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("#unblock")
    await expect(page.locator(".alert-success")).to_contain_text("Unblocked")
    await expect(page.locator("#login-blocked")).to_have_count(0)
    await page.goto(admin_url(tenant.slug, "/admin/subscribers"))
    await expect(listed.locator(".state")).to_have_text("active")
    await expect(listed.locator(".login-blocked")).to_have_count(0)
    [row] = await sql("SELECT login_blocked_until FROM subscriber WHERE id = :s", s=sub["id"])
    assert row["login_blocked_until"] is None
    actions = await sql("SELECT action FROM audit_event WHERE tenant_id = :t", t=tenant.id)
    assert "subscriber.unblock" in [a["action"] for a in actions]
    await page.set_viewport_size({"width": 1280, "height": 900})
    await screenshot(page, "admin-subscriber-unblocked-1280")
    assert not errors, errors
