"""Subscribers, zones and IP pools through the API: what is refused with a clear 4xx (and
changes nothing), and what a tech allocated a zone may see and change."""

from __future__ import annotations

import secrets
from typing import Any

from api.subscribers import secrets as passwords
from tests.factories import login, make_router, make_staff, make_user_headers
from tests.radius.conftest import sql

API = "/api/v1"
SQUARE = {"type": "Polygon", "coordinates": [[[36.9, -1.5], [37.0, -1.5], [37.0, -1.4],
                                              [36.9, -1.4], [36.9, -1.5]]]}  # fmt: skip


async def _post(client, headers, path: str, body: dict[str, Any], status: int = 201) -> dict:
    response = await client.post(f"{API}/{path}", headers=headers, json=body)
    assert response.status_code == status, response.text
    return response.json()


async def _isp(client) -> dict[str, Any]:
    """An ISP with a zone tree (Kajiado > Kitengela > Milimani, and Nairobi), a pool, a plan."""
    tenant, headers = await make_user_headers(client)
    kajiado = await _post(client, headers, "zones", {"name": "Kajiado", "outline": SQUARE})
    kitengela = await _post(client, headers, "zones", {"name": "Kitengela",
                                                       "parent_id": kajiado["id"]})  # fmt: skip
    milimani = await _post(client, headers, "zones", {"name": "Milimani",
                                                      "parent_id": kitengela["id"]})  # fmt: skip
    nairobi = await _post(client, headers, "zones", {"name": "Nairobi", "latitude": -1.29,
                                                     "longitude": 36.82})  # fmt: skip
    pool = await _post(client, headers, "ip-pools", {"name": "fixed", "cidr": "10.60.0.0/24"})
    plan = await _post(client, headers, "subscriber-plans", {
        "name": "Home", "price": 2500, "upload_kbps": 5000, "download_kbps": 10000,
        "burst_upload_kbps": 8000, "burst_download_kbps": 16000, "burst_seconds": 8,
    })  # fmt: skip
    return {"tenant": tenant, "headers": headers, "kajiado": kajiado, "kitengela": kitengela,
            "milimani": milimani, "nairobi": nairobi, "pool": pool, "plan": plan}  # fmt: skip


def _subscriber(isp: dict, **extra: Any) -> dict[str, Any]:
    return {"username": "u-" + secrets.token_hex(4), "name": "Wanjiru",
            "plan_id": isp["plan"]["id"], "zone_id": isp["kitengela"]["id"]} | extra  # fmt: skip


async def test_plan_burst_and_generated_password(client):
    isp = await _isp(client)
    assert isp["plan"]["rate_limit"] == "5M/10M 8M/16M 3750k/7500k 8/8"
    assert isp["milimani"]["path"] == [isp["kajiado"]["id"], isp["kitengela"]["id"],
                                       isp["milimani"]["id"]]  # fmt: skip
    created = await _post(client, isp["headers"], "subscribers", _subscriber(isp))
    assert len(created["password"]) == 12
    [row] = await sql("SELECT encrypted_password FROM subscriber WHERE id = :s", s=created["id"])
    assert passwords.decrypt(bytes(row["encrypted_password"])) == created["password"]
    typed = await _post(
        client, isp["headers"], "subscribers", _subscriber(isp, password="typed-pw1")
    )
    assert "password" not in typed
    changes = await sql("SELECT changes FROM audit_event WHERE action = 'subscriber.create' "
                        "AND object_id = :o", o=str(typed["id"]))  # fmt: skip
    assert changes[0]["changes"]["encrypted_password"] == "set"  # never the value
    suspended = await client.patch(f"{API}/subscribers/{typed['id']}", headers=isp["headers"],
                                   json={"status": "suspended"})  # fmt: skip
    assert suspended.json()["status"] == "suspended"
    actions = await sql("SELECT action FROM audit_event WHERE object_id = :o AND "
                        "object_type = 'subscriber' ORDER BY id", o=str(typed["id"]))  # fmt: skip
    assert [a["action"] for a in actions] == ["subscriber.create", "subscriber.suspend"]


async def test_bad_input_gets_a_clear_4xx_and_changes_nothing(client):
    isp, other = await _isp(client), await _isp(client)
    headers = isp["headers"]
    taken = await _post(
        client, headers, "subscribers", _subscriber(isp, username="Amina.K", ip_address="10.60.0.5")
    )
    # The same username at another ISP is fine.
    await _post(client, other["headers"], "subscribers", _subscriber(other, username="Amina.K"))
    cases = [
        (_subscriber(isp, username="ab"), 422, "3 to 64"),
        (_subscriber(isp, username="has space"), 422, "letters, digits"),
        (_subscriber(isp, username="x" * 65), 422, "3 to 64"),
        (_subscriber(isp, username="amina.k"), 409, "username"),  # unique whatever the case
        (_subscriber(isp, ip_address="10.61.0.5"), 422, "none of your IP pools"),
        (_subscriber(isp, ip_address="10.60.0.0"), 422, "network or broadcast"),
        (_subscriber(isp, ip_address="10.60.0.5"), 409, "IP address"),
        (_subscriber(isp, ip_address="10.60.0.999"), 422, "IPv4 address"),
        (_subscriber(isp, kind="static", ip_address="10.60.0.6"), 422, "ip_address and mac"),
        (_subscriber(isp, kind="static", ip_address="10.60.0.6", mac="zz:zz"), 422, "MAC"),
        (_subscriber(isp, plan_id=other["plan"]["id"]), 422, "monthly plan"),
        (_subscriber(isp, zone_id=other["kajiado"]["id"]), 422, "zone"),
        (_subscriber(isp, password="short"), 422, "6 to 64"),
    ]
    for body, status, words in cases:
        response = await client.post(f"{API}/subscribers", headers=headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.text, (body, response.text)
    count = await sql("SELECT count(*) AS n FROM subscriber WHERE tenant_id = :t",
                      t=isp["tenant"].id)  # fmt: skip
    assert count[0]["n"] == 1 and taken["username"] == "Amina.K"

    bad_outlines = [
        ({"type": "Point", "coordinates": [36.9, -1.5]}, "Polygon"),
        (
            {
                "type": "Polygon",
                "coordinates": [[[36.9, -1.5], [37.0, -1.5], [37.0, -1.4], [36.9, -1.4]]],
            },
            "not closed",
        ),  # fmt: skip
        (
            {"type": "Polygon", "coordinates": [[[36.9, -1.5], [37.0, -1.5], [36.9, -1.5]]]},
            "at least 4",
        ),  # fmt: skip
        (
            {
                "type": "Polygon",
                "coordinates": [[[-1.5, 136.9], [-1.5, 137.0], [-1.4, 137.0], [-1.5, 136.9]]],
            },
            "latitude",
        ),  # fmt: skip
        (
            {
                "type": "Polygon",
                "coordinates": [[[0, 0]] + [[i / 1000, 1] for i in range(6000)] + [[0, 0]]],
            },
            "at most",
        ),  # fmt: skip
    ]
    for outline, words in bad_outlines:
        response = await client.post(f"{API}/zones", headers=headers,
                                     json={"name": "Bad", "outline": outline})  # fmt: skip
        assert response.status_code == 422 and words in response.text, response.text
    pools = [("10.70.0.1/24", "host bits"), ("10.0.0.0/4", "IPv4 network"),
             ("2001:db8::/64", "IPv4 network")]  # fmt: skip
    for cidr, words in pools:
        response = await client.post(f"{API}/ip-pools", headers=headers,
                                     json={"name": cidr, "cidr": cidr})  # fmt: skip
        assert response.status_code == 422 and words in response.text, response.text


async def test_zone_tree_refuses_circles_and_deleting_what_it_holds(client):
    isp = await _isp(client)
    headers = isp["headers"]
    circle = await client.patch(f"{API}/zones/{isp['kajiado']['id']}", headers=headers,
                                json={"parent_id": isp["milimani"]["id"]})  # fmt: skip
    assert circle.status_code == 409 and "circle" in circle.text
    self_parent = await client.patch(f"{API}/zones/{isp['kajiado']['id']}", headers=headers,
                                     json={"parent_id": isp["kajiado"]["id"]})  # fmt: skip
    assert self_parent.status_code == 409
    # Moving Kitengela under Nairobi carries Milimani.
    moved = await client.patch(f"{API}/zones/{isp['kitengela']['id']}", headers=headers,
                               json={"parent_id": isp["nairobi"]["id"]})  # fmt: skip
    assert moved.json()["path"] == [isp["nairobi"]["id"], isp["kitengela"]["id"]]
    milimani = await client.get(f"{API}/zones/{isp['milimani']['id']}", headers=headers)
    assert milimani.json()["path"][:2] == [isp["nairobi"]["id"], isp["kitengela"]["id"]]
    held = await _post(
        client, headers, "subscribers", _subscriber(isp, zone_id=isp["milimani"]["id"])
    )
    refused = await client.delete(f"{API}/zones/{isp['kitengela']['id']}", headers=headers)
    assert refused.status_code == 409 and "zones" in refused.text, refused.text
    refused = await client.delete(f"{API}/zones/{isp['milimani']['id']}", headers=headers)
    assert refused.status_code == 409 and f"subscribers {held['id']}" in refused.text
    plan_in_use = await client.delete(
        f"{API}/subscriber-plans/{isp['plan']['id']}", headers=headers
    )
    assert plan_in_use.status_code == 409 and "Subscribers are on this plan" in plan_in_use.text
    emptied = await client.delete(f"{API}/zones/{isp['kajiado']['id']}", headers=headers)
    assert emptied.status_code == 204


async def test_a_tech_sees_and_changes_only_their_zones(client):
    isp = await _isp(client)
    headers, tenant = isp["headers"], isp["tenant"]
    tech = await make_staff(tenant=tenant, role="tech")
    allocate = await client.put(f"{API}/staff/{tech.id}/zones", headers=headers,
                                json={"zone_ids": [isp["kitengela"]["id"]]})  # fmt: skip
    assert allocate.json()["zone_ids"] == [isp["kitengela"]["id"]]
    in_zone = await make_router(tenant=tenant, zone_id=isp["milimani"]["id"])  # below Kitengela
    elsewhere = await make_router(tenant=tenant, zone_id=isp["nairobi"]["id"])
    mine = await _post(
        client, headers, "subscribers", _subscriber(isp, zone_id=isp["milimani"]["id"])
    )
    theirs = await _post(
        client, headers, "subscribers", _subscriber(isp, zone_id=isp["nairobi"]["id"])
    )
    tech_headers = await login(client, tenant=tenant, staff=tech)

    listed = await client.get(f"{API}/subscribers", headers=tech_headers)
    assert [s["id"] for s in listed.json()] == [mine["id"]]
    routers = await client.get(f"{API}/routers", headers=tech_headers)
    assert [r["id"] for r in routers.json()] == [in_zone.id]
    zones = await client.get(f"{API}/zones", headers=tech_headers)
    assert {z["id"] for z in zones.json()} == {isp["kitengela"]["id"], isp["milimani"]["id"]}
    for path in (f"subscribers/{theirs['id']}", f"routers/{elsewhere.id}",
                 f"zones/{isp['nairobi']['id']}"):  # fmt: skip
        assert (await client.get(f"{API}/{path}", headers=tech_headers)).status_code == 404
    patched = await client.patch(f"{API}/subscribers/{theirs['id']}", headers=tech_headers,
                                 json={"status": "suspended"})  # fmt: skip
    assert patched.status_code == 404
    moved_out = await client.patch(f"{API}/subscribers/{mine['id']}", headers=tech_headers,
                                   json={"zone_id": isp["nairobi"]["id"]})  # fmt: skip
    assert moved_out.status_code == 422
    created = await client.post(f"{API}/subscribers", headers=tech_headers,
                                json=_subscriber(isp, zone_id=isp["nairobi"]["id"]))  # fmt: skip
    assert created.status_code == 422
    no_zone = _subscriber(isp)
    del no_zone["zone_id"]
    assert (await client.post(f"{API}/subscribers", headers=tech_headers,
                              json=no_zone)).status_code == 422  # fmt: skip
    ok = await client.post(f"{API}/subscribers", headers=tech_headers,
                           json=_subscriber(isp, zone_id=isp["milimani"]["id"]))  # fmt: skip
    assert ok.status_code == 201, ok.text
    [row] = await sql("SELECT status, zone_id FROM subscriber WHERE id = :s", s=theirs["id"])
    assert row["status"] == "active" and row["zone_id"] == isp["nairobi"]["id"]
    zone_write = await client.post(f"{API}/zones", headers=tech_headers, json={"name": "Mine"})
    assert zone_write.status_code == 403
