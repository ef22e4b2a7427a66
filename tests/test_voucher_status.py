"""/api/v1/vouchers/{code}: state by voucher_state() (the SQL FreeRADIUS decides logins with),
usage, devices; revoke and the device-limit override. Usage comes from radius_accounting() and
logins from radius_post_auth(), the functions FreeRADIUS calls; time is moved by setting
timestamps in the database."""

from __future__ import annotations

import random
import secrets
from datetime import datetime

import pytest

from api.db import unit_of_work
from api.models import AuditEvent, Tenant, Voucher
from tests.factories import (
    accounting,
    count,
    make_plan,
    make_router,
    make_user_headers,
    make_voucher,
    radius_login,
)
from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import hotspot_request, send

URL = "/api/v1/vouchers"


async def _detail(client, headers, code):
    response = await client.get(f"{URL}/{code}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _setup(client, **plan):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant, **plan))
    return tenant, headers, router, voucher


async def _use(voucher, router, *, seconds=0, bytes_in=0, bytes_out=0):
    """A login, then a closed session that used this much."""
    await radius_login(voucher=voucher, router=router)
    unique = secrets.token_hex(8)
    nas = str(router.ip_address)
    common = {"tenant_id": voucher.tenant_id, "nas": nas, "username": voucher.code}
    await accounting(kind="start", unique=unique, **common)
    await accounting(
        kind="stop",
        unique=unique,
        session_time=seconds,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        cause="User-Request",
        **common,
    )


async def test_unused_voucher(client):
    _, headers, _, voucher = await _setup(client, duration_seconds=7200, data_quota_bytes=10**9)
    detail = await _detail(client, headers, voucher.code.lower())
    assert detail["state"] == "unused" and detail["reason"] is None
    assert detail["status"] == "unused" and detail["first_used_at"] is None
    assert detail["used_seconds"] == 0 and detail["used_bytes"] == 0
    assert detail["seconds_left"] == 7200 and detail["bytes_left"] == 10**9
    assert detail["devices"] == []
    # Unused: it must be started within the ISP's unused_voucher_days (30 by default).
    issued = await sql(
        "SELECT issued_at + interval '30 days' AS d FROM voucher WHERE id = :id", id=voucher.id
    )
    assert datetime.fromisoformat(detail["usable_until"]) == issued[0]["d"]


async def test_active_voucher_with_usage_and_device(client):
    _, headers, router, voucher = await _setup(
        client, duration_seconds=3600, time_quota_seconds=1800, data_quota_bytes=10**6
    )
    await _use(voucher, router, seconds=300, bytes_in=100_000, bytes_out=200_000)
    detail = await _detail(client, headers, voucher.code)
    assert detail["state"] == "active" and detail["reason"] is None
    assert detail["status"] == "active" and detail["first_used_at"] is not None
    assert detail["usable_until"] == detail["expires_at"]
    assert detail["used_seconds"] == 300 and detail["used_bytes"] == 300_000
    assert detail["seconds_left"] == 1500  # the time quota is what runs out first
    assert detail["bytes_left"] == 700_000
    assert [(d["mac"], d["router"]) for d in detail["devices"]] == [
        ("AA:BB:CC:DD:EE:01", {"id": router.id, "name": router.name})
    ]
    # The plan snapshot is there.
    assert detail["duration_seconds"] == 3600 and detail["time_quota_seconds"] == 1800
    assert detail["data_quota_bytes"] == 10**6 and detail["rate_limit"] == "2M/4M"
    assert detail["device_limit"] == 1 and detail["mac_binding"] is False


async def test_expired_by_time(client):
    _, headers, router, voucher = await _setup(client, duration_seconds=3600)
    await radius_login(voucher=voucher, router=router)
    await sql(
        "UPDATE voucher SET first_used_at = now() - interval '2 hours', "
        "expires_at = now() - interval '1 hour' WHERE id = :id",
        id=voucher.id,
    )
    detail = await _detail(client, headers, voucher.code)
    assert (detail["state"], detail["reason"]) == ("expired", "Voucher expired")
    assert detail["seconds_left"] == 0


async def test_expired_unused_for_too_many_days_follows_the_setting(client):
    _, headers, _, voucher = await _setup(client)
    await sql(
        "UPDATE voucher SET issued_at = now() - interval '31 days' WHERE id = :id", id=voucher.id
    )
    detail = await _detail(client, headers, voucher.code)
    assert detail["state"] == "expired"
    assert detail["reason"] == "Voucher expired: not used within 30 days of issue"
    # The ISP allows 60 days: the same voucher is usable again.
    response = await client.patch(
        "/api/v1/settings", headers=headers, json={"unused_voucher_days": 60}
    )
    assert response.status_code == 200, response.text
    assert (await _detail(client, headers, voucher.code))["state"] == "unused"


async def test_exhausted_time_quota(client):
    _, headers, router, voucher = await _setup(client, time_quota_seconds=600)
    await _use(voucher, router, seconds=600)
    detail = await _detail(client, headers, voucher.code)
    assert (detail["state"], detail["reason"]) == ("exhausted", "Time quota used up")
    assert detail["seconds_left"] == 0 and detail["used_seconds"] == 600


async def test_exhausted_data_quota(client):
    _, headers, router, voucher = await _setup(client, data_quota_bytes=1000)
    await _use(voucher, router, seconds=60, bytes_in=600, bytes_out=500)
    detail = await _detail(client, headers, voucher.code)
    assert (detail["state"], detail["reason"]) == ("exhausted", "Data quota used up")
    assert detail["bytes_left"] == 0 and detail["used_bytes"] == 1100


async def test_revoke_is_idempotent_and_audited(client):
    tenant, headers, router, voucher = await _setup(client)
    await radius_login(voucher=voucher, router=router)
    first = await client.post(f"{URL}/{voucher.code}/revoke", headers=headers)
    assert first.status_code == 200, first.text
    detail = first.json()
    assert (detail["state"], detail["reason"]) == ("revoked", "Voucher revoked")
    assert detail["status"] == "revoked" and detail["revoked_at"] is not None
    again = await client.post(f"{URL}/{voucher.code.lower()}/revoke", headers=headers)
    assert again.status_code == 200 and again.json()["revoked_at"] == detail["revoked_at"]
    assert (await _detail(client, headers, voucher.code))["state"] == "revoked"
    rows = await sql(
        "SELECT s.state FROM voucher v JOIN tenant t ON t.id = v.tenant_id, "
        "LATERAL voucher_state(v, t.unused_voucher_days) s WHERE v.id = :id",
        id=voucher.id,
    )
    assert rows[0]["state"] == "revoked"
    # One revocation, one audit row; the code (a credential) is not in it.
    audit = await sql(
        "SELECT object_type, object_id, details FROM audit_event "
        "WHERE tenant_id = :t AND action = 'voucher.revoke'",
        t=tenant.id,
    )
    assert [(a["object_type"], a["object_id"]) for a in audit] == [("voucher", str(voucher.id))]
    assert voucher.code not in str(audit[0]["details"])


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_only_owner_and_admin_may_revoke_or_patch(client, role):
    tenant, owner, _, voucher = await _setup(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.post(f"{URL}/{voucher.code}/revoke", headers=headers)).status_code == 403
    response = await client.patch(
        f"{URL}/{voucher.code}", headers=headers, json={"device_limit": 3}
    )
    assert response.status_code == 403
    assert (await _detail(client, owner, voucher.code))["status"] == "unused"
    assert (await _detail(client, owner, voucher.code))["device_limit"] == 1
    assert await count(AuditEvent, tenant_id=tenant.id, object_type="voucher") == 0


async def test_admin_may_revoke(client):
    tenant, _, _, voucher = await _setup(client)
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    response = await client.post(f"{URL}/{voucher.code}/revoke", headers=admin)
    assert response.status_code == 200 and response.json()["state"] == "revoked"


async def test_patch_device_limit(client):
    tenant, headers, _, voucher = await _setup(client)
    response = await client.patch(
        f"{URL}/{voucher.code}", headers=headers, json={"device_limit": 3}
    )
    assert response.status_code == 200, response.text
    assert response.json()["device_limit"] == 3
    assert (await _detail(client, headers, voucher.code))["device_limit"] == 3
    audit = await sql(
        "SELECT object_id, changes FROM audit_event "
        "WHERE tenant_id = :t AND action = 'voucher.update'",
        t=tenant.id,
    )
    assert [(a["object_id"], a["changes"]) for a in audit] == [
        (str(voucher.id), {"device_limit": {"before": 1, "after": 3}})
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"device_limit": 0},
        {"device_limit": 101},
        {"device_limit": None},
        {},
        {"status": "active"},
        {"device_limit": "many"},
    ],
)
async def test_patch_invalid_is_422_and_nothing_changed(client, body):
    tenant, headers, _, voucher = await _setup(client)
    response = await client.patch(f"{URL}/{voucher.code}", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert (await _detail(client, headers, voucher.code))["device_limit"] == 1
    assert await count(AuditEvent, tenant_id=tenant.id, action="voucher.update") == 0


@pytest.mark.parametrize("code", ["ABC", "ABCDEFGHJ", "ABCDEFG0", "ABCDEFGI", "ABCD-EFG"])
async def test_malformed_code_is_422(client, code):
    tenant, headers, _, _ = await _setup(client)
    for method, url in [
        ("GET", f"{URL}/{code}"),
        ("POST", f"{URL}/{code}/revoke"),
        ("GET", f"{URL}/{code}/sessions"),
    ]:
        response = await client.request(method, url, headers=headers)
        assert response.status_code == 422, (method, url, response.text)
    response = await client.patch(f"{URL}/{code}", headers=headers, json={"device_limit": 2})
    assert response.status_code == 422
    assert await count(AuditEvent, tenant_id=tenant.id, object_type="voucher") == 0


async def test_unknown_code_is_404_everywhere(client):
    _, headers, _, _ = await _setup(client)
    for method, url, body in [
        ("GET", f"{URL}/ZZZZZZZZ", None),
        ("POST", f"{URL}/ZZZZZZZZ/revoke", None),
        ("PATCH", f"{URL}/ZZZZZZZZ", {"device_limit": 2}),
        ("GET", f"{URL}/ZZZZZZZZ/sessions", None),
    ]:
        response = await client.request(method, url, headers=headers, json=body)
        assert response.status_code == 404, (method, url)


async def test_anonymous_is_401(client):
    _, _, _, voucher = await _setup(client)
    for method, url in [
        ("POST", f"{URL}/{voucher.code}/revoke"),
        ("PATCH", f"{URL}/{voucher.code}"),
        ("GET", f"{URL}/{voucher.code}/sessions"),
    ]:
        assert (await client.request(method, url, json={"device_limit": 2})).status_code == 401
    assert await count(Voucher, id=voucher.id, status="unused") == 1


async def test_batch_with_device_limit_override(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant, device_limit=1)
    body = {"plan_id": plan.id, "count": 2, "device_limit": 4}
    response = await client.post(f"{URL}/batches", headers=headers, json=body)
    assert response.status_code == 201, response.text
    for code in response.json()["codes"]:
        assert (await _detail(client, headers, code))["device_limit"] == 4
    audit = await sql(
        "SELECT details FROM audit_event WHERE tenant_id = :t AND action = 'voucher.batch_create'",
        t=tenant.id,
    )
    assert audit[0]["details"]["device_limit"] == 4


async def test_batch_device_limit_override_needs_voucher_write(client):
    tenant, support = await make_user_headers(client, role="support")
    plan = await make_plan(tenant=tenant)
    body = {"plan_id": plan.id, "count": 2, "device_limit": 4}
    response = await client.post(f"{URL}/batches", headers=support, json=body)
    assert response.status_code == 403
    assert await count(Voucher, tenant_id=tenant.id) == 0
    for bad in (0, 101):
        _, owner = await make_user_headers(client, tenant=tenant)
        response = await client.post(
            f"{URL}/batches", headers=owner, json=body | {"device_limit": bad}
        )
        assert response.status_code == 422
    assert await count(Voucher, tenant_id=tenant.id) == 0


async def test_revoked_voucher_is_rejected_by_freeradius_at_once(client):
    """FreeRADIUS reads the voucher on every login: the next one after a revoke is refused."""
    code = random_code()
    # 127.201-254.x.y: loopback addresses the RADIUS tests' fixture (127.1-200.x.y) never uses.
    address = (
        f"127.{random.randrange(201, 255)}.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
    )
    isp = await make_isp(address=address, codes=[code])
    reply = send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])
    assert reply.code == "Access-Accept"

    async with unit_of_work() as session:
        tenant = await session.get(Tenant, isp["tenant_id"])
    _, headers = await make_user_headers(client, tenant=tenant)
    assert (await client.post(f"{URL}/{code}/revoke", headers=headers)).status_code == 200

    reply = send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])
    assert (reply.code, reply["Reply-Message"]) == ("Access-Reject", "Voucher revoked")
