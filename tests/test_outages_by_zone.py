"""Outages by zone (issue 15: "for a router, a zone or the whole ISP"): an outage in a zone tells
once each customer online with a sold voucher at a router of that zone or of a zone below it,
and nobody elsewhere; the portal shows it behind those routers only; a tech announces and ends
one only in their zones; another ISP's zone is not found; bad input changes nothing."""

from __future__ import annotations

import pytest

from tests.factories import login, make_router, make_staff, make_user_headers
from tests.radius.conftest import sql
from tests.test_outages import URL, _online, _told


async def _zone(client, headers, name: str, parent: int | None = None) -> int:
    made = await client.post("/api/v1/zones", headers=headers,
                             json={"name": name, "parent_id": parent})  # fmt: skip
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def _in_zone(tenant, zone_id: int, identity: str):
    router = await make_router(tenant=tenant, nas_identifier=identity)
    await sql("UPDATE router SET zone_id = :z WHERE id = :r", z=zone_id, r=router.id)
    return router


async def test_a_zone_outage_tells_the_zone_and_below_once_and_shows_behind_its_routers(client):
    tenant, owner = await make_user_headers(client)
    county = await _zone(client, owner, "Nairobi")
    town = await _zone(client, owner, "Kibera", county)
    other = await _zone(client, owner, "Mombasa")
    here = await _online(tenant, await _in_zone(tenant, county, "county-hap"))
    below = await _online(tenant, await _in_zone(tenant, town, "kibera-hap"))
    away = await _online(tenant, await _in_zone(tenant, other, "coast-hap"))
    loose = await _online(tenant, await make_router(tenant=tenant, nas_identifier="no-zone"))
    body = {"zone_id": county, "message": "Fibre cut on Ngong Road"}
    made = await client.post(URL, json=body, headers=owner)
    assert made.status_code == 201, made.text
    outage = made.json()
    assert outage["zone_id"] == county and outage["told"] == 2
    assert await _told(outage["id"]) == {here, below}
    assert not {away, loose} & await _told(outage["id"])
    # Told once: the notification's unique key holds however the outage is read again.
    rows = await sql("SELECT count(*) AS n FROM notification WHERE key LIKE :k",
                     k=f"outage:{outage['id']}:%")  # fmt: skip
    assert rows[0]["n"] == 2

    host = {"host": f"{tenant.slug}.mnetifi.com"}
    for identity, shown in [("county-hap", True), ("kibera-hap", True), ("coast-hap", False),
                            ("no-zone", False), ("", False)]:  # fmt: skip
        page = await client.get(f"/hotspotportal?identity={identity}", headers=host)
        assert ("Fibre cut on Ngong Road" in page.text) is shown, identity
    # A customer's online page (the voucher's status) carries it where the voucher is online.
    for voucher_id, shown in [(below, True), (away, False), (loose, False)]:
        [v] = await sql("SELECT code FROM voucher WHERE id = :v", v=voucher_id)
        status = await client.get(f"/api/v1/portal/vouchers/{v['code']}", headers=host)
        assert status.status_code == 200, status.text
        texts = [n.get("text") for n in status.json()["notices"]]
        assert ("Fibre cut on Ngong Road" in texts) is shown, (voucher_id, texts)
    ended = await client.post(f"{URL}/{outage['id']}/end", headers=owner)
    assert ended.status_code == 200
    page = await client.get("/hotspotportal?identity=kibera-hap", headers=host)
    assert "Fibre cut on Ngong Road" not in page.text


async def test_a_tech_announces_only_in_their_zones(client):
    tenant, owner = await make_user_headers(client)
    mine = await _zone(client, owner, "Kawangware")
    theirs = await _zone(client, owner, "Kangemi")
    tech = await make_staff(tenant=tenant, role="tech")
    put = await client.put(f"/api/v1/staff/{tech.id}/zones", headers=owner,
                           json={"zone_ids": [mine]})  # fmt: skip
    assert put.status_code == 200, put.text
    headers = await login(client, tenant=tenant, staff=tech)
    ok = await client.post(URL, json={"zone_id": mine, "message": "Power out at the mast"},
                           headers=headers)  # fmt: skip
    assert ok.status_code == 201, ok.text
    refused = await client.post(URL, json={"zone_id": theirs, "message": "Power out there"},
                                headers=headers)  # fmt: skip
    assert refused.status_code == 404
    owners = await client.post(URL, json={"zone_id": theirs, "message": "Power out there"},
                               headers=owner)  # fmt: skip
    cannot_end = await client.post(f"{URL}/{owners.json()['id']}/end", headers=headers)
    assert cannot_end.status_code == 404
    listed = await client.get(URL, headers=headers)
    assert [o["zone_id"] for o in listed.json()] == [mine]
    [row] = await sql("SELECT ends_at FROM outage WHERE id = :o", o=owners.json()["id"])
    assert row["ends_at"] is None


async def test_another_isps_zone_is_not_found(client):
    tenant_a, owner_a = await make_user_headers(client)
    _, owner_b = await make_user_headers(client)
    zone_a = await _zone(client, owner_a, "A's estate")
    answer = await client.post(URL, json={"zone_id": zone_a, "message": "Hijacked outage"},
                               headers=owner_b)  # fmt: skip
    assert answer.status_code == 404
    assert await sql("SELECT * FROM outage WHERE zone_id = :z", z=zone_a) == []


@pytest.mark.parametrize("extra", [{"zone_id": 0}, {"zone_id": "x"}, {"zone_id": 2**31},
                                   {"zone_id": 1, "router_id": 1}])  # fmt: skip
async def test_bad_zone_outages_are_refused(client, extra):
    tenant, owner = await make_user_headers(client)
    answer = await client.post(URL, json={"message": "Down for now"} | extra, headers=owner)
    assert answer.status_code == 422, answer.text
    assert await sql("SELECT * FROM outage WHERE tenant_id = :t", t=tenant.id) == []
