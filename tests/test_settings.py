"""/api/v1/settings: an ISP's own unused_voucher_days and acct_interim_interval, and its message
limits (usage and expiry warnings, quiet hours, a daily cap per recipient, country prefixes)."""

from __future__ import annotations

import pytest

from api.models import AuditEvent, Tenant
from tests.factories import count, make_user_headers
from tests.radius.conftest import sql

URL = "/api/v1/settings"
DEFAULTS = {
    "unused_voucher_days": 30,
    "acct_interim_interval": 300,
    "usage_warning_percent": 90,
    "expiry_warning_minutes": 30,
    "quiet_hours_from": None,
    "quiet_hours_to": None,
    "message_daily_cap": 5,
    "message_prefixes": "+254",
    "message_rate_per_minute": 600,
    "subscriber_reminder_days": 3,
    "subscriber_dunning_days": "1,3,7",
    "subscriber_dunning_stk": False,
}


async def _stored(tenant_id: int) -> dict:
    rows = await sql(f"SELECT {', '.join(DEFAULTS)} FROM tenant WHERE id = :t", t=tenant_id)
    return dict(rows[0])


async def test_anonymous_is_401(client):
    assert (await client.get(URL)).status_code == 401
    assert (await client.patch(URL, json={"unused_voucher_days": 5})).status_code == 401


async def test_owner_reads_and_changes_settings_audited(client):
    tenant, headers = await make_user_headers(client)
    assert (await client.get(URL, headers=headers)).json() == DEFAULTS

    response = await client.patch(URL, headers=headers, json={"unused_voucher_days": 90})
    assert response.status_code == 200, response.text
    assert response.json() == DEFAULTS | {"unused_voucher_days": 90}
    response = await client.patch(
        URL, headers=headers, json={"unused_voucher_days": 1, "acct_interim_interval": 3600}
    )
    assert response.json() == DEFAULTS | {"unused_voucher_days": 1, "acct_interim_interval": 3600}
    assert await _stored(tenant.id) == response.json()
    assert (await client.get(URL, headers=headers)).json() == response.json()

    audit = await sql(
        "SELECT object_type, object_id, changes FROM audit_event "
        "WHERE tenant_id = :t AND action = 'settings.update' ORDER BY id",
        t=tenant.id,
    )
    assert [(a["object_type"], a["object_id"]) for a in audit] == [("tenant", str(tenant.id))] * 2
    assert audit[0]["changes"] == {"unused_voucher_days": {"before": 30, "after": 90}}
    assert audit[1]["changes"] == {
        "unused_voucher_days": {"before": 90, "after": 1},
        "acct_interim_interval": {"before": 300, "after": 3600},
    }


async def test_admin_may_change_settings(client):
    tenant, _ = await make_user_headers(client)
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    response = await client.patch(URL, headers=admin, json={"acct_interim_interval": 120})
    assert response.status_code == 200
    assert await _stored(tenant.id) == DEFAULTS | {"acct_interim_interval": 120}


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_other_roles_are_403(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.get(URL, headers=headers)).status_code == 403
    response = await client.patch(URL, headers=headers, json={"unused_voucher_days": 5})
    assert response.status_code == 403
    assert await _stored(tenant.id) == DEFAULTS
    assert await count(AuditEvent, tenant_id=tenant.id, action="settings.update") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"unused_voucher_days": 0},
        {"unused_voucher_days": -1},
        {"unused_voucher_days": 3651},
        {"unused_voucher_days": None},
        {"unused_voucher_days": "ten"},
        {"unused_voucher_days": 2**40},
        {"acct_interim_interval": 59},
        {"acct_interim_interval": 3601},
        {"acct_interim_interval": 300, "unused_voucher_days": 0},
        {"usage_warning_percent": 100},
        {"usage_warning_percent": -1},
        {"expiry_warning_minutes": 1441},
        {"quiet_hours_from": 21},
        {"quiet_hours_from": 21, "quiet_hours_to": None},
        {"quiet_hours_from": 24, "quiet_hours_to": 6},
        {"message_daily_cap": 0},
        {"message_prefixes": "254"},
        {"message_prefixes": "+254,"},
        {"message_prefixes": "+0"},
        {"message_prefixes": ",".join(["+1"] * 11)},
        {"message_prefixes": None},
        {"subscriber_reminder_days": 31},
        {"subscriber_reminder_days": -1},
        {"subscriber_dunning_days": "3,1"},
        {"subscriber_dunning_days": "0,3"},
        {"subscriber_dunning_days": "1,1"},
        {"subscriber_dunning_days": "one"},
        {"subscriber_dunning_days": "1;3"},
        {"subscriber_dunning_days": ",".join(str(d) for d in range(1, 12))},
        {"subscriber_dunning_stk": "maybe"},
        {},
        {"slug": "other"},
    ],
)
async def test_invalid_input_is_422_and_nothing_changed(client, body):
    tenant, headers = await make_user_headers(client)
    response = await client.patch(URL, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert await _stored(tenant.id) == DEFAULTS
    assert await count(AuditEvent, tenant_id=tenant.id, action="settings.update") == 0
    assert await count(Tenant, id=tenant.id, slug=tenant.slug) == 1


async def test_each_tenant_changes_only_its_own(client):
    tenant_a, headers_a = await make_user_headers(client)
    tenant_b, headers_b = await make_user_headers(client)
    await client.patch(URL, headers=headers_b, json={"unused_voucher_days": 7})
    assert (await client.get(URL, headers=headers_a)).json() == DEFAULTS
    assert await _stored(tenant_a.id) == DEFAULTS
    assert await _stored(tenant_b.id) == DEFAULTS | {"unused_voucher_days": 7}


async def test_the_message_limits_are_set_and_quiet_hours_cleared(client):
    tenant, headers = await make_user_headers(client)
    limits = {
        "usage_warning_percent": 80,
        "expiry_warning_minutes": 15,
        "quiet_hours_from": 21,
        "quiet_hours_to": 7,
        "message_daily_cap": 3,
        "message_prefixes": "+254,+256",
    }
    response = await client.patch(URL, headers=headers, json=limits)
    assert response.status_code == 200, response.text
    assert await _stored(tenant.id) == DEFAULTS | limits
    cleared = {"quiet_hours_from": None, "quiet_hours_to": None}
    response = await client.patch(URL, headers=headers, json=cleared)
    assert response.status_code == 200, response.text
    assert await _stored(tenant.id) == DEFAULTS | limits | cleared


async def test_the_subscriber_reminder_and_dunning_settings_are_set(client):
    tenant, headers = await make_user_headers(client)
    body = {"subscriber_reminder_days": 5, "subscriber_dunning_days": " 2, 4,10",
            "subscriber_dunning_stk": True}  # fmt: skip
    response = await client.patch(URL, headers=headers, json=body)
    assert response.status_code == 200, response.text
    stored = await _stored(tenant.id)
    assert (stored["subscriber_reminder_days"], stored["subscriber_dunning_days"],
            stored["subscriber_dunning_stk"]) == (5, "2,4,10", True)  # fmt: skip
    none = await client.patch(URL, headers=headers, json={"subscriber_dunning_days": ""})
    assert none.status_code == 200 and none.json()["subscriber_dunning_days"] == ""
