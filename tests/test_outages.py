"""Outages and maintenance (issue 15): staff announce one at a router (a tech only at theirs) or
across the ISP (owners and admins); each customer online there with a sold voucher is told
once; the captive portal shows it (the ISP's, and the router's the phone is behind) until it
ends; audited; bad input and other ISPs' routers change nothing."""

from __future__ import annotations

import secrets

import pytest

from tests.factories import (
    accounting,
    make_plan,
    make_router,
    make_staff,
    make_user_headers,
    make_voucher,
)
from tests.payshop import phone
from tests.radius.conftest import sql

URL = "/api/v1/outages"


async def _online(tenant, router, *, sold: bool = True) -> int:
    voucher = await make_voucher(plan=await make_plan(tenant=tenant, name=secrets.token_hex(4)))
    if sold:
        await sql("UPDATE voucher SET phone = :p WHERE id = :v", p=phone(), v=voucher.id)
    await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                     username=voucher.code, unique=secrets.token_hex(6))  # fmt: skip
    return voucher.id


async def _told(outage_id: int) -> set[int]:
    rows = await sql("SELECT voucher_id FROM notification WHERE key LIKE :k",
                     k=f"outage:{outage_id}:%")  # fmt: skip
    return {r["voucher_id"] for r in rows}


async def test_a_router_outage_tells_its_customers_once_and_shows_on_the_portal(client):
    tenant, owner = await make_user_headers(client)
    down = await make_router(tenant=tenant, nas_identifier="soko-hap")
    fine = await make_router(tenant=tenant, nas_identifier="kibera-hap")
    here = await _online(tenant, down)
    await _online(tenant, down, sold=False)  # a printed voucher: no phone to tell
    there = await _online(tenant, fine)
    body = {"router_id": down.id, "message": "Fibre cut at Soko; back by 6 pm"}
    made = await client.post(URL, json=body, headers=owner)
    assert made.status_code == 201, made.text
    outage = made.json()
    assert outage["told"] == 1 and await _told(outage["id"]) == {here}
    assert there not in await _told(outage["id"])
    [entry] = await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND action = "
                        "'outage.announce'", t=tenant.id)  # fmt: skip
    assert entry["details"]["told"] == 1

    host = {"host": f"{tenant.slug}.mnetifi.com"}
    behind = await client.get("/hotspotportal?identity=soko-hap", headers=host)
    assert "Fibre cut at Soko" in behind.text
    elsewhere = await client.get("/hotspotportal?identity=kibera-hap", headers=host)
    assert "Fibre cut at Soko" not in elsewhere.text
    ended = await client.post(f"{URL}/{outage['id']}/end", headers=owner)
    assert ended.status_code == 200 and ended.json()["ends_at"] is not None
    again = await client.post(f"{URL}/{outage['id']}/end", headers=owner)
    assert again.status_code == 200  # ending twice is harmless
    assert "Fibre cut" not in (await client.get("/hotspotportal?identity=soko-hap",
                                                headers=host)).text  # fmt: skip


async def test_an_isp_wide_outage_is_for_owners_and_admins_and_shows_everywhere(client):
    tenant, owner = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    tech = await make_staff(tenant=tenant, role="tech")
    await sql("INSERT INTO staff_router (tenant_id, staff_id, router_id) VALUES (:t, :s, :r)",
              t=tenant.id, s=tech.id, r=router.id)  # fmt: skip
    from tests.factories import login  # noqa: PLC0415

    tech_headers = await login(client, tenant=tenant, staff=tech)
    body = {"message": "Maintenance tonight from 1 am to 2 am"}
    refused = await client.post(URL, json=body, headers=tech_headers)
    assert refused.status_code == 403
    told = await _online(tenant, router)
    made = await client.post(URL, json=body, headers=owner)
    assert made.status_code == 201 and await _told(made.json()["id"]) == {told}
    page = await client.get("/hotspotportal", headers={"host": f"{tenant.slug}.mnetifi.com"})
    assert "Maintenance tonight" in page.text
    # The tech announces at their own router, but not at one that is not theirs.
    other = await make_router(tenant=tenant)
    own = await client.post(URL, json={"router_id": router.id, "message": "Rebooting the hAP"},
                            headers=tech_headers)  # fmt: skip
    assert own.status_code == 201
    theirs = await client.post(URL, json={"router_id": other.id, "message": "Rebooting it"},
                               headers=tech_headers)  # fmt: skip
    assert theirs.status_code == 404
    listed = await client.get(URL, headers=tech_headers)
    assert {o["router_id"] for o in listed.json()} == {None, router.id}


@pytest.mark.parametrize(
    ("body", "status"),
    [({"message": "no"}, 422), ({"message": "x" * 301}, 422), ({"router_id": 0, "message": "Down"},
     422), ({"message": "Down for now", "ends_at": "soon"}, 422),
     ({"message": "Down for now", "extra": 1}, 422)],
)  # fmt: skip
async def test_bad_outages_are_refused(client, body, status):
    tenant, owner = await make_user_headers(client)
    answer = await client.post(URL, json=body, headers=owner)
    assert answer.status_code == status, answer.text
    assert await sql("SELECT * FROM outage WHERE tenant_id = :t", t=tenant.id) == []


async def test_another_isps_router_or_outage_is_not_found(client):
    tenant_a, owner_a = await make_user_headers(client)
    _, owner_b = await make_user_headers(client)
    router_a = await make_router(tenant=tenant_a)
    body = {"router_id": router_a.id, "message": "Hijacked outage"}
    assert (await client.post(URL, json=body, headers=owner_b)).status_code == 404
    made = await client.post(URL, json=body, headers=owner_a)
    ended = await client.post(f"{URL}/{made.json()['id']}/end", headers=owner_b)
    assert ended.status_code == 404
    [row] = await sql("SELECT ends_at FROM outage WHERE id = :o", o=made.json()["id"])
    assert row["ends_at"] is None
