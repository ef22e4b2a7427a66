"""Voucher lifecycle as the router sees it: expiry from first use, unused vouchers lapsing,
revocation, time and data quotas and speed. Time is moved in the database, never slept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.radius.conftest import add_router, make_isp, random_code, random_mac, sql
from tests.radius.radclient import accounting_request, hotspot_request, send

DAY = 86400
GIB = 2**30


def login(isp: dict, code: str, *, mac: str = "AA:BB:CC:DD:EE:01", src: str | None = None):
    return send(
        "auth", hotspot_request(code, mac=mac), src=src or isp["address"], secret=isp["secret"]
    )


def account(isp: dict, code: str, status: str, **attrs):
    reply = send(
        "acct", accounting_request(code, status, **attrs), src=isp["address"], secret=isp["secret"]
    )
    assert reply.code == "Accounting-Response"


async def voucher(isp: dict, code: str) -> dict:
    rows = await sql(
        "SELECT * FROM voucher WHERE tenant_id = :t AND code = :c", t=isp["tenant_id"], c=code
    )
    return dict(rows[0])


async def shift(isp: dict, code: str, column: str, interval: str) -> None:
    """Move a voucher timestamp into the past, as if that much time had gone by."""
    assert column in {"issued_at", "first_used_at", "expires_at"}
    await sql(
        f"UPDATE voucher SET {column} = {column} - CAST(CAST(:i AS text) AS interval) "
        "WHERE tenant_id = :t AND code = :c",
        i=interval,
        t=isp["tenant_id"],
        c=code,
    )


async def test_24h_voucher_bought_at_6_first_used_at_16_expires_at_16_next_day(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), duration=DAY, codes=[code])
    await shift(isp, code, "issued_at", "10 hours")  # bought 06:00, it is 16:00 now

    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert DAY - 2 <= int(reply["Session-Timeout"]) <= DAY
    v = await voucher(isp, code)
    assert v["status"] == "active"
    assert (v["expires_at"] - v["first_used_at"]).total_seconds() == DAY
    assert (v["expires_at"] - v["issued_at"]).total_seconds() >= DAY + 10 * 3600 - 5

    # 15:59 the next day: one minute left.
    await shift(isp, code, "first_used_at", "23 hours 59 minutes")
    await shift(isp, code, "expires_at", "23 hours 59 minutes")
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert 55 <= int(reply["Session-Timeout"]) <= 60

    # 16:01 the next day.
    await shift(isp, code, "first_used_at", "2 minutes")
    await shift(isp, code, "expires_at", "2 minutes")
    reply = login(isp, code)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Voucher expired"
    assert "Session-Timeout" not in reply.attrs


async def test_concurrent_first_logins_on_two_routers_record_one_first_use(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), duration=3600, codes=[code], device_limit=20)
    second = new_address()
    await add_router(isp, second)

    def attempt(i: int):
        return login(isp, code, mac=random_mac(), src=isp["address"] if i % 2 else second)

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(attempt, range(10)))
    assert [r.code for r in replies] == ["Access-Accept"] * 10
    assert all(3590 <= int(r["Session-Timeout"]) <= 3600 for r in replies)

    v = await voucher(isp, code)
    accepts = await sql(
        "SELECT authdate FROM radpostauth WHERE tenant_id = :t AND reply = 'Access-Accept'",
        t=isp["tenant_id"],
    )
    # The clock started in the transaction of the earliest accept, and nobody restarted it
    # (a second activation would have moved first_used_at to its own, later, transaction time).
    assert len(accepts) == 10
    assert v["first_used_at"] == min(a["authdate"] for a in accepts)
    assert (v["expires_at"] - v["first_used_at"]).total_seconds() == 3600


async def test_unused_voucher_lapses_n_days_after_issue(new_address):
    fresh, stale = random_code(), random_code()
    isp = await make_isp(address=new_address(), codes=[fresh, stale])
    await sql("UPDATE tenant SET unused_voucher_days = 2 WHERE id = :t", t=isp["tenant_id"])
    await shift(isp, fresh, "issued_at", "47 hours")
    await shift(isp, stale, "issued_at", "49 hours")

    assert login(isp, fresh).code == "Access-Accept"
    reply = login(isp, stale)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Voucher expired: not used within 2 days of issue"
    assert (await voucher(isp, stale))["first_used_at"] is None


async def test_a_used_voucher_does_not_lapse_as_unused(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), duration=30 * DAY, codes=[code])
    await sql("UPDATE tenant SET unused_voucher_days = 1 WHERE id = :t", t=isp["tenant_id"])
    assert login(isp, code).code == "Access-Accept"
    await shift(isp, code, "issued_at", "5 days")
    assert login(isp, code).code == "Access-Accept"


async def test_revoked_voucher_is_rejected_at_once_with_reason(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    assert login(isp, code).code == "Access-Accept"
    await sql(
        "UPDATE voucher SET status = 'revoked', revoked_at = now() "
        "WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    reply = login(isp, code)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Voucher revoked"


async def test_deny_reasons_are_not_given_for_a_wrong_password(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    await sql(
        "UPDATE voucher SET status = 'revoked' WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    attrs = hotspot_request(code) | {"User-Password": "not-the-code"}
    reply = send("auth", attrs, src=isp["address"], secret=isp["secret"])
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Invalid voucher code"


async def test_time_quota_caps_session_timeout_then_rejects_when_used_up(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), duration=DAY, codes=[code], time_quota_seconds=3600)
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert int(reply["Session-Timeout"]) == 3600  # the quota, not the day of validity

    account(isp, code, "Start", session_id="s1")
    account(isp, code, "Stop", session_id="s1", **{"Acct-Session-Time": 3000})
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert int(reply["Session-Timeout"]) == 600

    account(isp, code, "Start", session_id="s2")
    account(isp, code, "Interim-Update", session_id="s2", **{"Acct-Session-Time": 600})
    reply = login(isp, code)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Time quota used up"


async def test_6_gib_quota_replies_2_gib_plus_one_gigaword_and_counts_down(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], data_quota_bytes=6 * GIB)
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert int(reply["Mikrotik-Total-Limit"]) == 2 * GIB
    assert int(reply["Mikrotik-Total-Limit-Gigawords"]) == 1

    # 5 GiB used over two sessions, counted across 32-bit wraps (gigawords).
    account(isp, code, "Start", session_id="d1")
    account(
        isp,
        code,
        "Stop",
        session_id="d1",
        **{"Acct-Input-Octets": 0, "Acct-Input-Gigawords": 1, "Acct-Output-Octets": GIB // 2},
    )
    account(isp, code, "Start", session_id="d2")
    account(
        isp,
        code,
        "Interim-Update",
        session_id="d2",
        **{"Acct-Input-Octets": GIB // 2, "Acct-Output-Octets": 0},
    )
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert int(reply["Mikrotik-Total-Limit"]) == GIB
    assert int(reply.attrs.get("Mikrotik-Total-Limit-Gigawords", "0")) == 0

    account(
        isp,
        code,
        "Interim-Update",
        session_id="d2",
        **{"Acct-Input-Octets": GIB + GIB // 2, "Acct-Output-Octets": 0},
    )
    reply = login(isp, code)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Data quota used up"
    assert "Mikrotik-Total-Limit" not in reply.attrs


async def test_unlimited_plan_sends_no_total_limit(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    reply = login(isp, code)
    assert reply.code == "Access-Accept"
    assert "Mikrotik-Total-Limit" not in reply.attrs
    assert "Mikrotik-Total-Limit-Gigawords" not in reply.attrs


async def test_rate_limit_is_upload_slash_download_as_routeros_reads_it(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), rate=(512, 3000), codes=[code])
    reply = login(isp, code)
    # RouterOS: rx-rate/tx-rate from the router's side, i.e. the client's upload/download.
    assert reply["Mikrotik-Rate-Limit"] == "512k/3M"


async def test_a_revoke_landing_between_authorize_and_post_auth_wins(new_address):
    """The window is milliseconds wide, so call post-auth as FreeRADIUS would right after the
    revoke commits: the clock must not start and the site is told to reject."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    v = await voucher(isp, code)
    await sql("UPDATE voucher SET status = 'revoked', revoked_at = now() WHERE id = :v", v=v["id"])
    rows = await sql(
        "SELECT radius_post_auth(:t, :v, '1', :c, 'Access-Accept', '', 'AA:00:00:00:00:01', "
        "'hotspot1', :src, '', :r, '1') AS result",
        t=str(isp["tenant_id"]),
        v=str(v["id"]),
        c=code,
        src=isp["address"],
        r=str(isp["router_id"]),
    )
    assert rows[0]["result"] == -2
    after = await voucher(isp, code)
    assert (after["status"], after["first_used_at"]) == ("revoked", None)
