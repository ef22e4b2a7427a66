"""The dashboard's subscriber, zone and network pages in process (tests/browser drives them for
real): what each form stores and audits, a tech kept to their zones, and every bad input
answered with a 4xx page that says what to fix, with nothing stored."""

from __future__ import annotations

import re
import secrets

from tests.factories import make_tenant
from tests.radius.conftest import sql
from tests.test_admin_settings_pages import signed_in


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
