"""Staff giving a live voucher more time (POST /api/v1/vouchers/{code}/extend and the voucher's
page): validity, end and time quota grow; devices online now get the new Session-Timeout by CoA;
the reason is audited; spent, revoked, unknown and another ISP's vouchers, roles without
vouchers:write and bad input change nothing. The voucher's page also shows its usage and the
payments that bought it."""

from __future__ import annotations

import secrets

import pytest

from tests.factories import accounting, make_plan, make_router, make_user_headers, make_voucher
from tests.payshop import make_shop
from tests.radius.conftest import sql
from tests.test_payment_resolve import held_payment, staff


async def _voucher_row(voucher_id: int) -> dict:
    return dict((await sql("SELECT * FROM voucher WHERE id = :v", v=voucher_id))[0])


async def test_more_time_reaches_the_voucher_its_live_devices_and_the_audit_log(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant, time_quota_seconds=7200)
    voucher = await make_voucher(plan=plan)
    router = await make_router(tenant=tenant)
    await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                     username=voucher.code, unique=secrets.token_hex(4))  # fmt: skip
    before = await _voucher_row(voucher.id)
    body = {"minutes": 90, "reason": "Outage on Saturday"}
    done = await client.post(f"/api/v1/vouchers/{voucher.code}/extend", json=body, headers=headers)
    assert done.status_code == 200, done.text
    after = await _voucher_row(voucher.id)
    assert after["duration_seconds"] == before["duration_seconds"] + 5400
    assert after["time_quota_seconds"] == before["time_quota_seconds"] + 5400
    [coa] = await sql("SELECT * FROM coa_request WHERE voucher_id = :v", v=voucher.id)
    assert (coa["kind"], coa["reason"]) == ("coa", "extended")
    [entry] = await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND action = "
                        "'voucher.extend'", t=tenant.id)  # fmt: skip
    assert entry["details"] == {"minutes": 90, "reason": "Outage on Saturday"}
    assert entry["changes"]["duration_seconds"] == {
        "before": before["duration_seconds"],
        "after": after["duration_seconds"],
    }


@pytest.mark.parametrize(
    ("body", "status"),
    [({"minutes": 0, "reason": "Outage"}, 422), ({"minutes": 50_000, "reason": "Outage"}, 422),
     ({"minutes": 30, "reason": "no"}, 422), ({"minutes": "lots", "reason": "Outage"}, 422),
     ({"minutes": 30}, 422), ({"minutes": 30, "reason": "Outage", "free": True}, 422)],
)  # fmt: skip
async def test_bad_input_is_a_422_and_changes_nothing(client, body, status):
    tenant, headers = await make_user_headers(client)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    before = await _voucher_row(voucher.id)
    answer = await client.post(
        f"/api/v1/vouchers/{voucher.code}/extend", json=body, headers=headers
    )
    assert answer.status_code == status, answer.text
    assert await _voucher_row(voucher.id) == before


async def test_spent_revoked_unknown_and_foreign_vouchers_are_refused(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    revoked, expired = await make_voucher(plan=plan), await make_voucher(plan=plan)
    await sql("UPDATE voucher SET status = 'revoked' WHERE id = :v", v=revoked.id)
    await sql("UPDATE voucher SET first_used_at = now() - interval '3 hours', "
              "expires_at = now() - interval '1 hour' WHERE id = :v", v=expired.id)  # fmt: skip
    other_tenant, _ = await make_user_headers(client)
    foreign = await make_voucher(plan=await make_plan(tenant=other_tenant))
    body = {"minutes": 30, "reason": "Goodwill"}
    for code, status in ((revoked.code, 409), (expired.code, 409), ("HKPQRSTW", 404),
                         (foreign.code, 404)):  # fmt: skip
        answer = await client.post(f"/api/v1/vouchers/{code}/extend", json=body, headers=headers)
        assert answer.status_code == status, (code, answer.text)
    assert (await _voucher_row(foreign.id))["duration_seconds"] == foreign.duration_seconds


@pytest.mark.parametrize("role", ["support", "tech"])
async def test_roles_without_vouchers_write_cannot_give_time(client, role):
    tenant, headers = await make_user_headers(client, role=role)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    body = {"minutes": 30, "reason": "Goodwill"}
    answer = await client.post(
        f"/api/v1/vouchers/{voucher.code}/extend", json=body, headers=headers
    )
    assert answer.status_code == 403
    assert (await _voucher_row(voucher.id))["duration_seconds"] == voucher.duration_seconds


async def test_the_voucher_page_gives_time_and_shows_usage_and_payments(client):
    shop = await make_shop(price=20)
    payment = await held_payment(client, shop)
    headers = await staff(client, shop) | {"host": f"{shop.slug}.mnetifi.com"}
    resolved = await client.post(
        "/api/v1/payments/resolve",
        json={"receipt": payment["receipt"], "plan_id": shop.plan_id, "reason": "Customer called"},
        headers=headers,
    )
    code = resolved.json()["voucher"]["code"]
    page = await client.get(f"/admin/vouchers/{code}", headers=headers)
    assert page.status_code == 200 and payment["receipt"] in page.text
    assert "Not used yet." in page.text and 'id="give-time"' in page.text
    form = {"minutes": "0", "reason": "Outage on Saturday"}
    refused = await client.post(f"/admin/vouchers/{code}/extend", data=form, headers=headers)
    assert refused.status_code == 422 and 'value="Outage on Saturday"' in refused.text
    done = await client.post(
        f"/admin/vouchers/{code}/extend", data=form | {"minutes": "60"}, headers=headers
    )
    assert done.status_code == 303 and "voucher-extended" in done.headers["location"]
    shown = await client.get(done.headers["location"], headers=headers)
    assert "More time given" in shown.text and "2 h 0 min" in shown.text
