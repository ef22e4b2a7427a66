"""Managing an ISP's staff: roles, a tech's routers, deactivation; the owner rules (an admin cannot
touch an owner or make one, the last active owner stays, under a lock); a change takes effect on
the person's next request."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.db import unit_of_work
from tests.factories import PASSWORD, login, make_router, make_staff, make_tenant
from tests.radius.conftest import sql

STAFF = "/api/v1/staff"


async def _person(client, tenant, role):
    staff = await make_staff(tenant=tenant, role=role)
    return staff, await login(client, tenant=tenant, staff=staff)


async def _state(staff_id: int) -> dict:
    [row] = await sql("SELECT role, active FROM staff_user WHERE id = :s", s=staff_id)
    return dict(row)


async def test_a_role_change_and_a_deactivation_apply_on_the_next_request(client):
    tenant = await make_tenant()
    _, owner = await _person(client, tenant, "owner")
    tech, tech_headers = await _person(client, tenant, "tech")
    assert (await client.get("/api/v1/routers", headers=tech_headers)).status_code == 200
    changed = await client.put(f"{STAFF}/{tech.id}/role", headers=owner, json={"role": "support"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "support"
    # A new role ends the person's sessions at once; signed in again, the new role applies:
    # routers are not support's, vouchers are.
    assert (await client.get("/api/v1/routers", headers=tech_headers)).status_code == 401
    tech_headers = await login(client, tenant=tenant, staff=tech)
    assert (await client.get("/api/v1/routers", headers=tech_headers)).status_code == 403
    assert (await client.get("/api/v1/vouchers", headers=tech_headers)).status_code == 200
    gone = await client.post(f"{STAFF}/{tech.id}/deactivate", headers=owner)
    assert gone.status_code == 200 and gone.json()["active"] is False
    refused = await client.get("/api/v1/vouchers", headers=tech_headers)
    assert refused.status_code == 401
    again = {"email": tech.email, "password": PASSWORD, "tenant": tenant.slug}
    assert (await client.post("/api/v1/auth/login", json=again)).status_code == 401
    [event] = await sql(
        "SELECT changes FROM audit_event WHERE action = 'staff.role' AND object_id = :s",
        s=str(tech.id),
    )
    assert event["changes"] == {"role": {"before": "tech", "after": "support"}}


async def test_an_admin_cannot_touch_an_owner_nor_make_one(client):
    tenant = await make_tenant()
    owner, _ = await _person(client, tenant, "owner")
    _, admin = await _person(client, tenant, "admin")
    tech, _ = await _person(client, tenant, "tech")
    for url, body in [
        (f"{STAFF}/{owner.id}/role", {"role": "admin"}),
        (f"{STAFF}/{tech.id}/role", {"role": "owner"}),
    ]:
        response = await client.put(url, headers=admin, json=body)
        assert response.status_code == 403, response.text
        assert "Only an owner" in response.json()["detail"]
    response = await client.post(f"{STAFF}/{owner.id}/deactivate", headers=admin)
    assert response.status_code == 403
    assert await _state(owner.id) == {"role": "owner", "active": True}
    assert await _state(tech.id) == {"role": "tech", "active": True}
    # What an admin may do: change a tech.
    ok = await client.put(f"{STAFF}/{tech.id}/role", headers=admin, json={"role": "support"})
    assert ok.status_code == 200


async def test_the_last_active_owner_stays(client):
    tenant = await make_tenant()
    owner, headers = await _person(client, tenant, "owner")
    demote = await client.put(f"{STAFF}/{owner.id}/role", headers=headers, json={"role": "admin"})
    assert demote.status_code == 409
    assert "last active owner" in demote.json()["detail"]
    gone = await client.post(f"{STAFF}/{owner.id}/deactivate", headers=headers)
    assert gone.status_code == 409
    assert await _state(owner.id) == {"role": "owner", "active": True}
    # With a second owner, one of them may step down.
    second, _ = await _person(client, tenant, "owner")
    step = await client.put(f"{STAFF}/{owner.id}/role", headers=headers, json={"role": "admin"})
    assert step.status_code == 200
    assert await _state(second.id) == {"role": "owner", "active": True}


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(client):
    tenant = await make_tenant()
    x, x_headers = await _person(client, tenant, "owner")
    y, y_headers = await _person(client, tenant, "owner")
    answers = await asyncio.gather(
        client.put(f"{STAFF}/{y.id}/role", headers=x_headers, json={"role": "admin"}),
        client.post(f"{STAFF}/{x.id}/deactivate", headers=y_headers),
    )
    # One wins; the other is refused: 409 if it passed sign-in before the winner committed,
    # else 401 (the winner's change ended the loser's sessions).
    codes = sorted(r.status_code for r in answers)
    assert codes in ([200, 409], [200, 401]), [r.text for r in answers]
    owners = await sql(
        "SELECT id FROM staff_user WHERE tenant_id = :t AND role = 'owner' AND active",
        t=tenant.id,
    )
    assert len(owners) == 1


async def test_a_techs_routers_must_be_the_isps(client):
    tenant, other = await make_tenant(), await make_tenant()
    _, owner = await _person(client, tenant, "owner")
    tech, _ = await _person(client, tenant, "tech")
    support, _ = await _person(client, tenant, "support")
    mine = await make_router(tenant=tenant)
    theirs = await make_router(tenant=other)
    url = f"{STAFF}/{tech.id}/routers"
    ok = await client.put(url, headers=owner, json={"router_ids": [mine.id, mine.id]})
    assert ok.status_code == 200 and ok.json()["router_ids"] == [mine.id], ok.text
    bad = await client.put(url, headers=owner, json={"router_ids": [mine.id, theirs.id, 999999]})
    assert bad.status_code == 422
    assert bad.json()["detail"] == f"No router of this ISP has id {theirs.id}, 999999"
    not_tech = await client.put(
        f"{STAFF}/{support.id}/routers", headers=owner, json={"router_ids": [mine.id]}
    )
    assert not_tech.status_code == 422 and "only techs" in not_tech.json()["detail"]
    junk = await client.put(url, headers=owner, json={"router_ids": ["x"]})
    assert junk.status_code == 422
    rows = await sql("SELECT staff_id, router_id FROM staff_router WHERE tenant_id = :t",
                     t=tenant.id)  # fmt: skip
    assert [(r["staff_id"], r["router_id"]) for r in rows] == [(tech.id, mine.id)]
    listed = await client.get(STAFF, headers=owner)
    assert {s["id"]: s["router_ids"] for s in listed.json()}[tech.id] == [mine.id]


async def test_the_database_refuses_another_isps_router_for_a_tech():
    tenant, other = await make_tenant(), await make_tenant()
    tech = await make_staff(tenant=tenant, role="tech")
    theirs = await make_router(tenant=other)
    for tenant_id in (tenant.id, other.id):
        with pytest.raises(IntegrityError):
            async with unit_of_work() as session:
                await session.execute(
                    text(
                        "INSERT INTO staff_router (tenant_id, staff_id, router_id)"
                        " VALUES (:t, :s, :r)"
                    ),
                    {"t": tenant_id, "s": tech.id, "r": theirs.id},
                )
