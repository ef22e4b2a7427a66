"""/api/v1/plans."""

from __future__ import annotations

import pytest

from api.models import Plan
from tests.factories import count, make_plan, make_user_headers

URL = "/api/v1/plans"
VALID = {
    "name": "1 Hour",
    "price": 10,
    "duration_seconds": 3600,
    "upload_kbps": 512,
    "download_kbps": 1500,
}


async def test_anonymous_is_401(client):
    tenant, _ = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    for method, url in [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{plan.id}"),
        ("PATCH", f"{URL}/{plan.id}"),
        ("DELETE", f"{URL}/{plan.id}"),
    ]:
        assert (await client.request(method, url, json=VALID)).status_code == 401, (method, url)
    assert await count(Plan, tenant_id=tenant.id) == 1


async def test_create_get_list(client):
    _, headers = await make_user_headers(client)
    body = VALID | {"data_quota_bytes": 10**9, "device_limit": 3, "mac_binding": True}
    response = await client.post(URL, headers=headers, json=body)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["rate_limit"] == "512k/1500k"
    assert plan["device_limit"] == 3 and plan["active"] is True
    assert (await client.get(f"{URL}/{plan['id']}", headers=headers)).json() == plan
    assert [p["id"] for p in (await client.get(URL, headers=headers)).json()] == [plan["id"]]


@pytest.mark.parametrize(
    "field,value",
    [
        ("price", -1),
        ("duration_seconds", 0),
        ("duration_seconds", 366 * 86400 + 1),
        ("time_quota_seconds", 0),
        ("data_quota_bytes", 0),
        ("upload_kbps", 0),
        ("download_kbps", -5),
        ("device_limit", 0),
        ("device_limit", 101),
        ("name", ""),
        ("price", "ten"),
    ],
)
async def test_invalid_input_is_422_and_nothing_created(client, field, value):
    tenant, headers = await make_user_headers(client)
    response = await client.post(URL, headers=headers, json=VALID | {field: value})
    assert response.status_code == 422, response.text
    assert await count(Plan, tenant_id=tenant.id) == 0


async def test_duplicate_name_is_409(client):
    tenant, headers = await make_user_headers(client)
    await make_plan(tenant=tenant, name="Daily")
    response = await client.post(URL, headers=headers, json=VALID | {"name": "Daily"})
    assert response.status_code == 409
    assert "name" in response.json()["detail"]
    assert await count(Plan, tenant_id=tenant.id) == 1


async def test_patch(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant, data_quota_bytes=5000)
    response = await client.patch(
        f"{URL}/{plan.id}", headers=headers, json={"price": 20, "data_quota_bytes": None}
    )
    assert response.status_code == 200
    assert response.json()["price"] == 20 and response.json()["data_quota_bytes"] is None
    for bad in ({"price": None}, {"device_limit": 0}, {"active": "maybe"}):
        assert (
            await client.patch(f"{URL}/{plan.id}", headers=headers, json=bad)
        ).status_code == 422
    assert (await client.get(f"{URL}/{plan.id}", headers=headers)).json()["price"] == 20


async def test_delete_plan_without_vouchers(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    assert (await client.delete(f"{URL}/{plan.id}", headers=headers)).status_code == 204
    assert await count(Plan, tenant_id=tenant.id) == 0


async def test_delete_plan_with_vouchers_is_409_and_suggests_deactivating(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    batch = {"plan_id": plan.id, "count": 1}
    assert (await client.post("/api/v1/vouchers/batches", headers=headers, json=batch)).is_success
    response = await client.delete(f"{URL}/{plan.id}", headers=headers)
    assert response.status_code == 409
    assert "active=false" in response.json()["detail"]
    assert await count(Plan, tenant_id=tenant.id) == 1


async def test_roles(client):
    tenant, support = await make_user_headers(client, role="support")  # sells: sees plans
    _, tech = await make_user_headers(client, tenant=tenant, role="tech")
    assert (await client.get(URL, headers=support)).status_code == 200
    assert (await client.get(URL, headers=tech)).status_code == 403
    assert (await client.post(URL, headers=support, json=VALID)).status_code == 403
    assert await count(Plan, tenant_id=tenant.id) == 0
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    assert (await client.post(URL, headers=admin, json=VALID)).status_code == 201
