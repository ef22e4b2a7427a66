"""/api/v1/sessions (who is online) and /api/v1/vouchers/{code}/sessions (a voucher's usage
log). Sessions are made by radius_accounting(), the SQL FreeRADIUS runs per accounting packet;
`at` is the packet's Event-Timestamp."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import (
    accounting,
    make_plan,
    make_router,
    make_user_headers,
    make_voucher,
    random_ip,
)

URL = "/api/v1/sessions"


async def _session(owner, nas, *, start, updated=None, stop=None, mac="AA:BB:CC:DD:EE:01", **usage):
    """A session of `owner` (a voucher, or (tenant id, username)) started at `start`, last
    updated with `usage` at `updated` (default now), or stopped at `stop`."""
    tenant_id, username = owner if isinstance(owner, tuple) else (owner.tenant_id, owner.code)
    common = {"tenant_id": tenant_id, "nas": nas, "username": username, "mac": mac}
    common["unique"] = secrets.token_hex(8)
    await accounting(kind="start", at=start, **common)
    end = stop or updated or datetime.now(UTC)
    seconds = int((end - start).total_seconds())
    if stop:
        await accounting(
            kind="stop", at=end, session_time=seconds, cause="User-Request", **common, **usage
        )
    else:
        await accounting(kind="interim-update", at=end, session_time=seconds, **common, **usage)


def _now():
    return datetime.now(UTC).replace(microsecond=0)


async def _get(client, url, headers, **params):
    response = await client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _world(client):
    tenant, headers = await make_user_headers(client)
    r1, r2 = await make_router(tenant=tenant), await make_router(tenant=tenant)
    plan = await make_plan(tenant=tenant)
    v1, v2, v3 = [await make_voucher(plan=plan) for _ in range(3)]
    return tenant, headers, r1, r2, v1, v2, v3


async def test_anonymous_is_401(client):
    assert (await client.get(URL)).status_code == 401


async def test_live_sessions_and_history(client):
    tenant, headers, r1, r2, v1, v2, v3 = await _world(client)
    ip1, ip2, now = str(r1.ip_address), str(r2.ip_address), _now()
    await _session(v1, ip1, start=now - timedelta(minutes=10), bytes_in=1000, bytes_out=5000)
    await _session(v2, ip2, start=now - timedelta(minutes=20), stop=now - timedelta(minutes=5))
    # Open, but its router has not updated it for an hour: not online.
    await _session(
        v3, ip1, start=now - timedelta(hours=2), updated=now - timedelta(hours=1), mac="AA:03"
    )
    # From an address that is no router of this ISP (deleted router), without a voucher.
    await _session((tenant.id, "pppoe-user"), random_ip(), start=now - timedelta(minutes=1))

    live = await _get(client, URL, headers)
    assert [(s["voucher_code"], s["live"]) for s in live] == [
        (None, True),
        (v1.code, True),
    ]
    s1 = live[1]
    assert s1["mac"] == "AA:BB:CC:DD:EE:01" and s1["ip_address"] == "10.5.50.10"
    assert s1["router"] == {"id": r1.id, "name": r1.name} and s1["nas_ip_address"] == ip1
    assert s1["bytes_in"] == 1000 and s1["bytes_out"] == 5000
    assert 595 <= s1["session_seconds"] <= 610
    assert s1["stopped_at"] is None and s1["terminate_cause"] is None
    assert datetime.fromisoformat(s1["started_at"]) == now - timedelta(minutes=10)
    assert live[0]["router"] is None and live[0]["username"] == "pppoe-user"

    everything = await _get(client, URL, headers, live="false")
    assert [s["voucher_code"] for s in everything] == [None, v1.code, v2.code, v3.code]
    closed = everything[2]
    assert closed["live"] is False and closed["terminate_cause"] == "User-Request"
    assert closed["stopped_at"] is not None and closed["session_seconds"] == 900
    assert closed["router"] == {"id": r2.id, "name": r2.name}
    assert everything[3]["live"] is False and everything[3]["stopped_at"] is None

    by_router = await _get(client, URL, headers, live="false", router_id=r2.id)
    assert [s["voucher_code"] for s in by_router] == [v2.code]
    by_voucher = await _get(client, URL, headers, live="false", voucher=v3.code.lower())
    assert [s["voucher_code"] for s in by_voucher] == [v3.code]
    assert await _get(client, URL, headers, voucher=v2.code) == []  # closed, so not live


async def test_live_follows_the_acct_interim_interval_setting(client):
    _, headers, r1, _, v1, _, _ = await _world(client)
    ip, now = str(r1.ip_address), _now()
    await _session(v1, ip, start=now - timedelta(minutes=30))
    # Last update 5 minutes ago: within 2 x 300 s + 60 s, beyond 2 x 60 s + 60 s.
    await _session(
        v1, ip, start=now - timedelta(minutes=20), updated=now - timedelta(minutes=5), mac="AA:02"
    )
    assert [s["live"] for s in await _get(client, URL, headers, live="false")] == [True, True]
    response = await client.patch(
        "/api/v1/settings", headers=headers, json={"acct_interim_interval": 60}
    )
    assert response.status_code == 200
    assert [s["live"] for s in await _get(client, URL, headers, live="false")] == [False, True]
    assert len(await _get(client, URL, headers)) == 1


async def test_voucher_usage_log_is_newest_first_with_keyset_and_offset_paging(client):
    _, headers, r1, r2, v1, v2, _ = await _world(client)
    now = _now()
    starts = [now - timedelta(hours=h) for h in (5, 4, 3, 3, 1)]  # two start at the same time
    for i, start in enumerate(starts):
        router = r1 if i % 2 else r2
        await _session(
            v1,
            str(router.ip_address),
            start=start,
            stop=start + timedelta(minutes=30),
            mac=f"AA:BB:CC:DD:EE:{i:02d}",
            bytes_in=i,
            bytes_out=10 * i,
        )
    await _session(v2, str(r1.ip_address), start=now)  # another voucher's
    url = f"/api/v1/vouchers/{v1.code}/sessions"

    log = await _get(client, url, headers)
    assert len(log) == 5 and {s["voucher_code"] for s in log} == {v1.code}
    assert [s["bytes_in"] for s in log] == [4, 3, 2, 1, 0]  # same start: newest id first
    assert all(s["session_seconds"] == 1800 and s["live"] is False for s in log)
    assert [s["mac"] for s in log][-1] == "AA:BB:CC:DD:EE:00"

    page1 = await _get(client, url, headers, limit=2)
    page2 = await _get(client, url, headers, limit=2, before=page1[-1]["id"])
    page3 = await _get(client, url, headers, limit=2, before=page2[-1]["id"])
    assert [s["id"] for s in page1 + page2 + page3] == [s["id"] for s in log]
    assert await _get(client, url, headers, limit=2, before=page3[-1]["id"]) == []
    assert [s["id"] for s in await _get(client, url, headers, offset=3)] == [
        s["id"] for s in log[3:]
    ]


async def test_other_tenants_router_voucher_and_cursor_are_not_visible(client):
    _, headers_a, r1, _, v1, _, _ = await _world(client)
    await _session(v1, str(r1.ip_address), start=_now())
    _, headers_b = await make_user_headers(client)
    assert await _get(client, URL, headers_b, live="false") == []
    for params in ({"router_id": r1.id}, {"voucher": v1.code}):
        assert (await client.get(URL, headers=headers_b, params=params)).status_code == 404
    response = await client.get(f"/api/v1/vouchers/{v1.code}/sessions", headers=headers_b)
    assert response.status_code == 404
    # A's session id as B's cursor shows nothing of A's.
    a_id = (await _get(client, URL, headers_a))[0]["id"]
    assert await _get(client, URL, headers_b, live="false", before=a_id) == []


@pytest.mark.parametrize("role", ["tech", "support", "admin"])
async def test_every_role_may_read_sessions(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.get(URL, headers=headers)).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"offset": -1},
        {"before": 0},
        {"before": 2**63},
        {"live": "maybe"},
        {"router_id": 0},
        {"router_id": 2**31},
        {"voucher": "not-a-code"},
        {"voucher": "ABCDEFGHJK"},
        {"unknown": 1},
    ],
)
async def test_invalid_query_is_422(client, params):
    tenant, headers = await make_user_headers(client)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    assert (await client.get(URL, headers=headers, params=params)).status_code == 422
    url = f"/api/v1/vouchers/{voucher.code}/sessions"
    if not {"live", "router_id", "voucher"} & set(params):
        assert (await client.get(url, headers=headers, params=params)).status_code == 422
