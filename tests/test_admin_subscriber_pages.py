"""The dashboard's subscriber, zone and network pages in process (tests/browser drives them for
real): what each form stores and audits, a tech kept to their zones, and every bad input
answered with a 4xx page that says what to fix, with nothing stored."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.factories import PASSWORD, make_router, make_staff, make_tenant
from tests.payshop import make_shop, new_receipt, shop_tenant, stk_body
from tests.radius.conftest import sql
from tests.test_admin_pages import _form
from tests.test_admin_settings_pages import Dashboard, signed_in
from tests.test_staff_login import _from


@asynccontextmanager
async def _as(app, tenant, staff) -> AsyncIterator[Dashboard]:
    """`staff` signed in to their ISP's dashboard (signed_in() makes a new person)."""
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    async with _from(app) as client:
        body = {"email": staff.email, "password": PASSWORD, "csrf_token": await _form(client, host)}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        yield Dashboard(client, host)


async def _network(dash) -> dict[str, int]:
    """A zone, a pool and a monthly plan made through the pages."""
    made = await dash.post("/admin/zones", {"name": "Kibera " + secrets.token_hex(2)})
    assert made.status_code == 303, made.text[:500]
    [zone] = await sql("SELECT id FROM zone ORDER BY id DESC LIMIT 1")
    plan = await dash.post("/admin/network/plans", {"name": "Home " + secrets.token_hex(2),
                                                    "price": "2000", "download": "10M",
                                                    "upload": "5M"})  # fmt: skip
    assert plan.status_code == 303, plan.text[:500]
    [p] = await sql("SELECT id FROM subscriber_plan ORDER BY id DESC LIMIT 1")
    return {"zone": zone["id"], "plan": p["id"]}


def _pppoe(net: dict[str, int], **extra: str) -> dict[str, str]:
    return {"kind": "pppoe", "username": "amina-" + secrets.token_hex(3), "password": "",
            "name": "Amina Otieno", "phone": "0712345678", "zone_id": str(net["zone"]),
            "plan_id": str(net["plan"])} | extra  # fmt: skip


async def test_an_owner_adds_a_pppoe_subscriber_and_sees_its_password_once(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        body = _pppoe(net)
        made = await dash.post("/admin/subscribers", body)
        assert made.status_code == 201, made.text[:2000]
        shown = re.search(r'id="new-password">([^<]+)<', made.text)
        assert shown and len(shown.group(1)) == 12
        [row] = await sql("SELECT * FROM subscriber WHERE tenant_id = :t", t=tenant.id)
        assert row["username"] == body["username"] and row["phone"] == "254712345678"
        page = await dash.get(f"/admin/subscribers/{row['id']}")
        assert page.status_code == 200 and shown.group(1) not in page.text
        listed = await dash.get("/admin/subscribers", params={"q": "Amina"})
        assert body["username"] in listed.text


async def test_each_page_shows_for_an_owner_and_a_tech_reads_zones_and_plans(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        made = await dash.post("/admin/subscribers", _pppoe(net, password="typed-secret-1"))
        assert made.status_code == 201 and "typed-secret-1" not in made.text
        [row] = await sql("SELECT id FROM subscriber WHERE tenant_id = :t", t=tenant.id)
        for path in (
            "/admin/zones",
            "/admin/network",
            "/admin/subscribers/new",
            f"/admin/subscribers/{row['id']}",
            f"/admin/subscribers/{row['id']}/edit",
            f"/admin/subscribers?zone={net['zone']}&status=active&online=1",
        ):
            page = await dash.get(path)
            assert page.status_code == 200, (path, page.text[:3000])
    async with signed_in(app, tenant, role="tech") as tech:
        zones = await tech.get("/admin/zones")
        assert zones.status_code == 200 and 'id="add-zone"' not in zones.text
        network = await tech.get("/admin/network")
        assert network.status_code == 200 and 'id="add-plan"' not in network.text


async def _snapshot(tenant_id: int) -> list:
    out = []
    for table in ("subscriber", "zone", "ip_pool", "subscriber_plan", "outage", "staff_zone"):
        rows = await sql(f"SELECT * FROM {table} WHERE tenant_id = :t ORDER BY id", t=tenant_id)  # noqa: S608
        out.append([dict(r) for r in rows])
    return out


def _said(page, *words: str) -> None:
    """A 4xx page that says what to fix (and marks the field when it is one)."""
    assert 400 <= page.status_code < 500, (page.status_code, page.text[:500])
    text = page.text
    assert all(w in text for w in words), (words, re.findall(r"alert-danger[^>]*>([^<]+)", text))
    for marker in (w for w in words if w.startswith('id="e-')):
        said = re.search(re.escape(marker) + r">([^<]*)<", text)
        assert said and said.group(1).strip(), f"{marker} says nothing beside its field"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"username": "a b"}, ["3 to 64 characters", 'id="e-username"']),
        ({"username": "ab"}, ["3 to 64 characters"]),
        ({"password": "short"}, ["6 to 64 characters", 'id="e-password"']),
        ({"phone": "12345"}, ["Kenyan mobile number", 'id="e-phone"']),
        ({"plan_id": ""}, ["Choose a monthly plan", 'id="e-plan_id"']),
        ({"zone_id": "x"}, ["Choose one from the list", 'id="e-zone_id"']),
        ({"zone_id": "999999"}, ["No zone 999999", 'id="e-zone_id"']),
        ({"latitude": "-1.3"}, ["both latitude and longitude"]),
        ({"latitude": "abc", "longitude": "36.8"}, ["must be a number", 'id="e-latitude"']),
        ({"kind": "static"}, ["a static client needs ip_address and mac", 'id="e-ip_address"']),
        ({"kind": "static", "ip_address": "10.99.0.5", "mac": "AA:BB:CC:DD:EE:FF"},
         ["none of your IP pools", 'id="e-ip_address"']),
        ({"mac": "not-a-mac", "kind": "static", "ip_address": "10.1.1.1"},
         ["MAC address like", 'id="e-mac"']),
        ({"due_on": "31/01/2026"}, ["a date like", 'id="e-due_on"']),
        ({"kind": "dsl"}, ["kind"]),
    ],
)  # fmt: skip
async def test_a_wrong_subscriber_form_says_what_to_fix_and_stores_nothing(app, change, words):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        before = await _snapshot(tenant.id)
        page = await dash.post("/admin/subscribers", _pppoe(net, name="Typed Name") | change)
        _said(page, *words)
        assert "Typed Name" in page.text, "the form comes back with what was typed"
        assert await _snapshot(tenant.id) == before


async def test_a_taken_username_and_a_wrong_change_are_refused(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        first = _pppoe(net)
        assert (await dash.post("/admin/subscribers", first)).status_code == 201
        again = await dash.post(
            "/admin/subscribers", _pppoe(net, username=first["username"].upper())
        )
        _said(again, "Another subscriber of yours has this username", 'id="e-username"')
        [row] = await sql("SELECT id FROM subscriber WHERE tenant_id = :t", t=tenant.id)
        url = f"/admin/subscribers/{row['id']}"
        before = await _snapshot(tenant.id)
        for path, form, words in [
            (url, {"name": ""}, ["name"]),
            (url, {}, ["Nothing to save"]),
            (url, {"phone": "07"}, ["Kenyan mobile number"]),
            (url + "/status", {"status": "gone"}, ["Choose suspend or resume"]),
            (url + "/move", {}, ["Choose the router or zone"]),
            (url + "/move", {"zone_id": str(net["zone"])}, ["this is where the subscriber is now"]),
            (url + "/move", {"router_id": "12x"}, ["Choose one from the list"]),
            (url + "/plan", {"plan_id": ""}, ["Choose a monthly plan"]),
            (url + "/plan", {"plan_id": "999999"}, ["No monthly plan 999999"]),
        ]:  # fmt: skip
            _said(await dash.post(path, form), *words)
        assert await _snapshot(tenant.id) == before


async def test_suspend_resume_move_and_plan_are_audited_and_change_only_that(app):
    tenant = await make_tenant()
    router = await make_router(tenant=tenant)
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        assert (await dash.post("/admin/subscribers", _pppoe(net))).status_code == 201
        [row] = await sql("SELECT * FROM subscriber WHERE tenant_id = :t", t=tenant.id)
        url = f"/admin/subscribers/{row['id']}"
        move = {"router_id": str(router.id), "zone_id": str(net["zone"])}
        steps = [(url + "/status", {"status": "suspended"}),
                 (url + "/status", {"status": "active"}), (url + "/move", move)]  # fmt: skip
        for path, form in steps:
            done = await dash.post(path, form)
            assert done.status_code == 303, done.text[:500]
        [after] = await sql("SELECT * FROM subscriber WHERE id = :s", s=row["id"])
        assert after["router_id"] == router.id and after["zone_id"] == row["zone_id"]
        assert after["encrypted_password"] == row["encrypted_password"]
        assert (after["username"], after["plan_id"], after["status"]) == (
            row["username"],
            row["plan_id"],
            "active",
        )
        reset = await dash.post(url + "/password")
        assert reset.status_code == 200 and 'id="new-password"' in reset.text
        [last] = await sql("SELECT encrypted_password FROM subscriber WHERE id = :s", s=row["id"])
        assert last["encrypted_password"] != row["encrypted_password"]
    actions = await sql("SELECT action FROM audit_event WHERE tenant_id = :t AND object_type = "
                        "'subscriber' ORDER BY id", t=tenant.id)  # fmt: skip
    assert [a["action"] for a in actions] == ["subscriber.create", "subscriber.suspend",
                                              "subscriber.resume", "subscriber.update",
                                              "subscriber.update"]  # fmt: skip


async def test_a_tech_lists_and_opens_only_their_zones_subscribers(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net_a = await _network(dash)
        net_b = await _network(dash)
        ours = _pppoe(net_a, name="In zone A")
        theirs = _pppoe(net_b, name="In zone B")
        for body in (ours, theirs):
            assert (await dash.post("/admin/subscribers", body)).status_code == 201
    tech = await make_staff(tenant=tenant, role="tech")
    await sql("INSERT INTO staff_zone (tenant_id, staff_id, zone_id) VALUES (:t, :s, :z)",
              t=tenant.id, s=tech.id, z=net_a["zone"])  # fmt: skip
    [b] = await sql("SELECT id FROM subscriber WHERE username = :u", u=theirs["username"])
    async with _as(app, tenant, tech) as techs:
        listed = await techs.get("/admin/subscribers")
        assert ours["username"] in listed.text and theirs["username"] not in listed.text
        assert (await techs.get(f"/admin/subscribers/{b['id']}")).status_code == 404
        moved = await techs.post(f"/admin/subscribers/{b['id']}/status", {"status": "suspended"})
        assert moved.status_code == 404
        searched = await techs.get("/admin/subscribers", params={"zone": net_b["zone"]})
        assert theirs["username"] not in searched.text
    [row] = await sql("SELECT status FROM subscriber WHERE id = :s", s=b["id"])
    assert row["status"] == "active"


@pytest.mark.parametrize(
    ("path", "form", "words"),
    [
        ("/admin/zones", {"name": ""}, ["Name: 1 to 100 characters"]),
        ("/admin/zones", {"name": "Soko", "latitude": "95", "longitude": "36"}, ["Latitude"]),
        ("/admin/zones", {"name": "Soko", "outline": "{not json"}, ["not GeoJSON text"]),
        ("/admin/zones", {"name": "Soko", "outline": '{"type": "Point", "coordinates": [1, 2]}'},
         ["Polygon"]),
        ("/admin/zones", {"name": "Soko", "outline": '{"type": "Polygon", "coordinates": '
                          '[[[36.7, -1.3], [36.8, -1.3], [36.8, -1.4], [36.7, -1.2]]]}'},
         ["is not closed"]),
        ("/admin/zones", {"name": "Soko", "parent_id": "999999"}, ["No zone 999999"]),
        ("/admin/network/pools", {"name": "Static", "cidr": "10.0.0.1/24"}, ["host bits zero"]),
        ("/admin/network/pools", {"name": "", "cidr": "10.0.0.0/24"}, ["Name"]),
        ("/admin/network/plans", {"name": "Home", "price": "2000", "download": "fast",
                                  "upload": "5M"}, ["Download: invalid rate"]),
        ("/admin/network/plans", {"name": "Home", "price": "-1", "download": "10M",
                                  "upload": "5M"}, ["Price a month"]),
        ("/admin/network/plans", {"name": "Home", "price": "2000", "download": "10M",
                                  "upload": "5M", "burst_download": "20M"}, ["a burst needs"]),
        ("/admin/network/plans", {"name": "Home", "price": "2000", "upload": "5M"},
         ["Download: enter a speed"]),
        ("/admin/outages", {"place": "everywhere", "message": "Fibre cut"}, ["Where: choose"]),
        ("/admin/outages", {"place": "isp", "message": "no"}, ["Message"]),
        ("/admin/outages", {"place": "zone:999999", "message": "Fibre cut"}, ["Zone not found"]),
        ("/admin/outages", {"place": "isp", "message": "Fibre cut", "ends_at": "tonight"},
         ["Expected back"]),
    ],
)  # fmt: skip
async def test_wrong_zone_network_and_outage_forms_say_what_to_fix(app, path, form, words):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        before = await _snapshot(tenant.id)
        _said(await dash.post(path, form), *words)
        assert await _snapshot(tenant.id) == before


async def test_what_is_still_used_is_not_deleted_and_the_page_says_why(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        child = await dash.post("/admin/zones", {"name": "Below", "parent_id": str(net["zone"])})
        assert child.status_code == 303
        [below] = await sql("SELECT id FROM zone WHERE tenant_id = :t AND name = 'Below'",
                            t=tenant.id)  # fmt: skip
        assert (await dash.post("/admin/subscribers", _pppoe(net))).status_code == 201
        before = await _snapshot(tenant.id)
        _said(await dash.post(f"/admin/zones/{net['zone']}/delete"), "still holds", "subscribers")
        _said(await dash.post(f"/admin/zones/{net['zone']}", {"name": "Loop",
                                                              "parent_id": str(below["id"])}),
              "would make a circle")  # fmt: skip
        _said(await dash.post(f"/admin/network/plans/{net['plan']}/delete"),
              "Subscribers are on this plan")  # fmt: skip
        assert await _snapshot(tenant.id) == before
        staff = await make_staff(tenant=tenant, role="tech")
        other = await make_tenant()
        async with signed_in(app, other) as elsewhere:
            foreign = await _network(elsewhere)
        _said(await dash.post(f"/admin/staff/{staff.id}/zones", {"zone_ids": [foreign["zone"]]}),
              "No zone of this ISP")  # fmt: skip
        assert await _snapshot(tenant.id) == before
        saved = await dash.post(f"/admin/staff/{staff.id}/zones", {"zone_ids": [net["zone"]]})
        assert saved.status_code == 303
        page = await dash.get("/admin/staff")
        assert re.search(r'class="tech-zones">[^<]*Kibera', page.text)


async def _ppp(tenant_id: int, nas: str, username: str, unique: str, kind: str,
               bytes_in: int = 0, bytes_out: int = 0) -> None:  # fmt: skip
    """A PPPoE session's accounting, as RouterOS's PPPoE server sends it (Framed-Protocol PPP)
    through the SQL FreeRADIUS calls."""
    await sql(
        "SELECT radius_accounting(:kind, :t, :nas, :u, :u, :name, :ts, '', :i, :o, "
        "'AA:BB:CC:DD:EE:09', 'pppoe1', '', '', '10.30.0.9', '15', 'Virtual', 'Framed-User', "
        "'PPP', 'RADIUS', '')",
        kind=kind, t=str(tenant_id), nas=nas, u=unique, name=username,
        ts=str(int(time.time())), i=bytes_in, o=bytes_out,
    )  # fmt: skip


async def test_the_list_shows_who_is_online_their_last_session_and_this_months_usage(app):
    tenant = await make_tenant()
    router = await make_router(tenant=tenant, name="olympic-hap")
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        online, offline = _pppoe(net), _pppoe(net)
        for body in (online, offline):
            assert (await dash.post("/admin/subscribers", body)).status_code == 201
        unique = secrets.token_hex(6)
        await _ppp(tenant.id, str(router.ip_address), online["username"], unique, "start")
        await _ppp(tenant.id, str(router.ip_address), online["username"], unique,
                   "interim-update", 3 * 2**30, 2**29)  # fmt: skip
        listed = await dash.get("/admin/subscribers", params={"online": "1"})
        assert online["username"] in listed.text and offline["username"] not in listed.text
        assert "olympic-hap" in listed.text
        [row] = await sql("SELECT id FROM subscriber WHERE username = :u", u=online["username"])
        page = await dash.get(f"/admin/subscribers/{row['id']}")
        assert 'id="usage">3.5 GB' in page.text, re.findall(r'id="usage">[^<]*', page.text)
        assert "Online now" in page.text
        searched = await dash.get("/admin/subscribers", params={"q": "+254 712 345 678"})
        assert online["username"] in searched.text and offline["username"] in searched.text
        nobody = await dash.get("/admin/subscribers", params={"q": "%"})
        assert "No subscriber matches" in nobody.text
        bad = await dash.get("/admin/subscribers", params={"zone": "x"})
        assert bad.status_code == 422 and "whole number" in bad.text


async def test_a_zone_filter_takes_the_zones_below_it_and_the_search_box_gets_the_results(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        made = await dash.post("/admin/zones", {"name": "Estate", "parent_id": str(net["zone"])})
        assert made.status_code == 303
        [estate] = await sql("SELECT id FROM zone WHERE tenant_id = :t AND name = 'Estate'",
                             t=tenant.id)  # fmt: skip
        other = await _network(dash)
        below = _pppoe(net, zone_id=str(estate["id"]))
        elsewhere = _pppoe(other)
        for body in (below, elsewhere):
            assert (await dash.post("/admin/subscribers", body)).status_code == 201
        top = await dash.get("/admin/subscribers", params={"zone": net["zone"]})
        assert below["username"] in top.text and elsewhere["username"] not in top.text
        typed = await dash.get("/admin/subscribers", params={"q": below["username"][-6:]},
                               headers={"hx-request": "true"})  # fmt: skip
        assert typed.status_code == 200 and "<html" not in typed.text
        assert below["username"] in typed.text and elsewhere["username"] not in typed.text


async def test_the_list_pages_older_by_keyset(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        for _ in range(32):
            made = await dash.post("/admin/subscribers", _pppoe(net, password="typed-secret-1"))
            assert made.status_code == 201
        first = await dash.get("/admin/subscribers", params={"status": "active"})
        older = re.search(r'href="/admin/subscribers\?([^"]+)" id="older"', first.text)
        assert older and "status=active" in older.group(1)
        rest = await dash.get("/admin/subscribers?" + older.group(1).replace("&amp;", "&"))
        assert rest.text.count('class="list-group-item subscriber"') == 2
        assert first.text.count('class="list-group-item subscriber"') == 30
        assert 'id="older"' not in rest.text


async def test_a_tech_moving_a_subscriber_between_zones_keeps_a_router_they_do_not_see(app):
    tenant = await make_tenant()
    router = await make_router(tenant=tenant, name="not-the-techs")
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        made = await dash.post("/admin/zones", {"name": "Estate", "parent_id": str(net["zone"])})
        assert made.status_code == 303
        body = _pppoe(net, router_id=str(router.id))
        assert (await dash.post("/admin/subscribers", body)).status_code == 201
    [estate] = await sql("SELECT id FROM zone WHERE tenant_id = :t AND name = 'Estate'",
                         t=tenant.id)  # fmt: skip
    [row] = await sql("SELECT id FROM subscriber WHERE tenant_id = :t", t=tenant.id)
    tech = await make_staff(tenant=tenant, role="tech")
    await sql("INSERT INTO staff_zone (tenant_id, staff_id, zone_id) VALUES (:t, :s, :z)",
              t=tenant.id, s=tech.id, z=net["zone"])  # fmt: skip
    async with _as(app, tenant, tech) as techs:
        page = await techs.get(f"/admin/subscribers/{row['id']}")
        chosen = re.search(r'id="move-router".*?<option value="(\d*)" selected', page.text, re.S)
        assert chosen and chosen.group(1) == str(router.id), "the current router stays chosen"
        where = {"router_id": chosen.group(1), "zone_id": str(estate["id"])}
        moved = await techs.post(f"/admin/subscribers/{row['id']}/move", where)
        assert moved.status_code == 303, moved.text[:500]
    [after] = await sql("SELECT router_id, zone_id FROM subscriber WHERE id = :s", s=row["id"])
    assert (after["router_id"], after["zone_id"]) == (router.id, estate["id"])


async def test_staff_send_the_bill_by_m_pesa_and_see_the_payment_renew_them(app, client):
    """The subscriber's page: balance and payments from billing, and "send the M-Pesa prompt"
    (audited) whose paid callback renews the subscriber and shows on the page."""
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    async with signed_in(app, tenant) as dash:
        net = await _network(dash)
        assert (await dash.post("/admin/subscribers", _pppoe(net))).status_code == 201
        [row] = await sql("SELECT * FROM subscriber WHERE tenant_id = :t", t=tenant.id)
        url = f"/admin/subscribers/{row['id']}"
        page = await dash.get(url)
        assert 'id="balance">KES 0<' in page.text and "No payment yet" in page.text
        bad = await dash.post(url + "/bill", {"phone": "12345"})
        assert bad.status_code == 422 and "Kenyan mobile number" in bad.text
        assert await sql("SELECT id FROM stk_request WHERE subscriber_id = :s", s=row["id"]) == []
        sent = await dash.post(url + "/bill", {"phone": ""})  # the subscriber's own phone
        assert sent.status_code == 303, sent.text[:500]
        [push] = await sql("SELECT * FROM stk_request WHERE subscriber_id = :s", s=row["id"])
        assert (push["amount"], push["phone"]) == (2000, "254712345678")
        receipt = new_receipt()
        body = stk_body(push["checkout_request_id"], amount=2000, receipt=receipt,
                        phone="254712345678")  # fmt: skip
        assert (await client.post(shop.hook("stk"), json=body)).status_code == 200
        after = await dash.get(url)
        assert receipt in after.text and "1 month(s)" in after.text
    [renewed] = await sql("SELECT due_at FROM subscriber WHERE id = :s", s=row["id"])
    assert renewed["due_at"] > row["due_at"]
    audited = await sql("SELECT action FROM audit_event WHERE tenant_id = :t AND action = "
                        "'subscriber.bill_push'", t=tenant.id)  # fmt: skip
    assert len(audited) == 1
