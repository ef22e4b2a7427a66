"""/api/v1/vouchers: batches, listing, lookup."""

from __future__ import annotations

from api.models import AuditEvent, Voucher
from tests.factories import count, make_plan, make_user_headers

URL = "/api/v1/vouchers"


async def _batch(client, headers, plan_id, n=3, **extra):
    response = await client.post(
        f"{URL}/batches", headers=headers, json={"plan_id": plan_id, "count": n} | extra
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_anonymous_is_401(client):
    tenant, _ = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    response = await client.post(f"{URL}/batches", json={"plan_id": plan.id, "count": 1})
    assert response.status_code == 401
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(f"{URL}/ABCDEFGH")).status_code == 401
    assert await count(Voucher, tenant_id=tenant.id) == 0


async def test_batch_snapshots_plan_terms(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(
        tenant=tenant,
        upload_kbps=2000,
        download_kbps=4000,
        duration_seconds=7200,
        data_quota_bytes=10**9,
        time_quota_seconds=1800,
        device_limit=2,
        mac_binding=True,
    )
    batch = await _batch(client, headers, plan.id, n=3, length=6)
    assert batch["count"] == 3 and len(set(batch["codes"])) == 3
    assert all(len(code) == 6 for code in batch["codes"])
    voucher = (await client.get(f"{URL}/{batch['codes'][0].lower()}", headers=headers)).json()
    assert voucher["code"] == batch["codes"][0]
    assert voucher["status"] == "unused" and voucher["first_used_at"] is None
    assert voucher["rate_limit"] == "2M/4M"
    assert voucher["duration_seconds"] == 7200 and voucher["device_limit"] == 2
    assert voucher["data_quota_bytes"] == 10**9 and voucher["time_quota_seconds"] == 1800
    # Editing the plan later does not change what was sold.
    await client.patch(f"/api/v1/plans/{plan.id}", headers=headers, json={"upload_kbps": 512})
    again = (await client.get(f"{URL}/{batch['codes'][0]}", headers=headers)).json()
    assert again["rate_limit"] == "2M/4M"
    audit = await count(AuditEvent, tenant_id=tenant.id, action="voucher.batch_create")
    assert audit == 1


async def test_inactive_plan_is_409(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant, active=False)
    response = await client.post(
        f"{URL}/batches", headers=headers, json={"plan_id": plan.id, "count": 5}
    )
    assert response.status_code == 409 and "inactive" in response.json()["detail"]
    assert await count(Voucher, tenant_id=tenant.id) == 0


async def test_unknown_plan_is_404(client):
    tenant, headers = await make_user_headers(client)
    response = await client.post(
        f"{URL}/batches", headers=headers, json={"plan_id": 2147483647, "count": 5}
    )
    assert response.status_code == 404
    assert await count(Voucher, tenant_id=tenant.id) == 0


async def test_list_filters_and_paging(client):
    tenant, headers = await make_user_headers(client)
    plan_a, plan_b = await make_plan(tenant=tenant), await make_plan(tenant=tenant)
    a = await _batch(client, headers, plan_a.id, n=4)
    b = await _batch(client, headers, plan_b.id, n=2)
    everything = (await client.get(URL, headers=headers)).json()
    assert {v["code"] for v in everything} == set(a["codes"]) | set(b["codes"])
    by_plan = (await client.get(URL, headers=headers, params={"plan_id": plan_b.id})).json()
    assert {v["code"] for v in by_plan} == set(b["codes"])
    by_batch = (await client.get(URL, headers=headers, params={"batch_id": a["batch_id"]})).json()
    assert {v["code"] for v in by_batch} == set(a["codes"])
    assert (await client.get(URL, headers=headers, params={"status": "active"})).json() == []
    page = (await client.get(URL, headers=headers, params={"limit": 2, "offset": 1})).json()
    assert [v["code"] for v in page] == [v["code"] for v in everything[1:3]]


async def test_list_invalid_query_is_422(client):
    _, headers = await make_user_headers(client)
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"status": "used"}):
        response = await client.get(URL, headers=headers, params=params)
        assert response.status_code == 422, params
    response = await client.get(URL, headers=headers, params={"batch_id": "nope"})
    assert response.status_code == 422


async def test_unknown_code_is_404(client):
    _, headers = await make_user_headers(client)
    assert (await client.get(f"{URL}/ZZZZZZZZ", headers=headers)).status_code == 404


async def test_support_may_generate_tech_may_not(client):
    tenant, support = await make_user_headers(client, role="support")
    _, tech = await make_user_headers(client, tenant=tenant, role="tech")
    plan = await make_plan(tenant=tenant)
    body = {"plan_id": plan.id, "count": 2}
    assert (await client.post(f"{URL}/batches", headers=tech, json=body)).status_code == 403
    assert await count(Voucher, tenant_id=tenant.id) == 0
    assert (await client.post(f"{URL}/batches", headers=support, json=body)).status_code == 201
    assert (await client.get(URL, headers=tech)).status_code == 403  # not a tech's at all
    assert (await client.get(URL, headers=support)).status_code == 200
