"""Accounting-Request handling: tenant-scoped rows, 64-bit octets, no cross-ISP collisions."""

from __future__ import annotations

import pytest

from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import accounting_request, send


def acct(code: str, status: str, **extra) -> dict:
    return accounting_request(code, status, **extra)


async def test_start_interim_stop_are_recorded_for_the_routers_tenant(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    for status, extra in [
        ("Start", {}),
        (
            "Interim-Update",
            {
                "Acct-Session-Time": 300,
                "Acct-Input-Octets": 1000,
                "Acct-Input-Gigawords": 1,
                "Acct-Output-Octets": 5000,
            },
        ),
        (
            "Stop",
            {
                "Acct-Session-Time": 600,
                "Acct-Input-Octets": 2000,
                "Acct-Input-Gigawords": 1,
                "Acct-Output-Octets": 9000,
                "Acct-Terminate-Cause": "User-Request",
            },
        ),
    ]:
        reply = send("acct", acct(code, status, **extra), src=isp["address"], secret=isp["secret"])
        assert reply.code == "Accounting-Response", status

    rows = await sql(
        "SELECT host(nasipaddress) AS nas, acctsessiontime, acctinputoctets, "
        "acctoutputoctets, acctstoptime IS NOT NULL AS closed, acctterminatecause "
        "FROM radacct WHERE tenant_id = :t",
        t=isp["tenant_id"],
    )
    assert [dict(r) for r in rows] == [
        {
            "nas": isp["address"],
            "acctsessiontime": 600,
            "acctinputoctets": 2**32 + 2000,
            "acctoutputoctets": 9000,
            "closed": True,
            "acctterminatecause": "User-Request",
        }
    ]


async def test_same_session_id_and_code_from_two_isps_makes_two_rows(new_address):
    code = random_code()
    isp_a = await make_isp(address=new_address(), codes=[code])
    isp_b = await make_isp(address=new_address(), codes=[code])

    for isp in (isp_a, isp_b):
        assert (
            send("acct", acct(code, "Start"), src=isp["address"], secret=isp["secret"]).code
            == "Accounting-Response"
        )

    rows = await sql("SELECT tenant_id FROM radacct WHERE username = :c ORDER BY tenant_id", c=code)
    assert [r["tenant_id"] for r in rows] == sorted([isp_a["tenant_id"], isp_b["tenant_id"]])


async def test_accounting_from_unregistered_address_is_not_acknowledged(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])

    reply = send("acct", acct(code, "Start"), src=new_address(), secret=isp["secret"], retries=1)

    assert reply.code is None
    assert await sql("SELECT 1 FROM radacct WHERE username = :c", c=code) == []


async def sessions(tenant_id: int) -> list[dict]:
    rows = await sql(
        "SELECT acctsessionid AS id, callingstationid AS mac, acctstoptime IS NULL AS open, "
        "acctterminatecause AS cause, acctsessiontime AS secs, acctinputoctets AS bytes_in, "
        "voucher_id IS NOT NULL AS has_voucher FROM radacct WHERE tenant_id = :t "
        "ORDER BY acctsessionid",
        t=tenant_id,
    )
    return [dict(r) for r in rows]


def acct_ok(isp: dict, request: dict, src: str | None = None) -> None:
    reply = send("acct", request, src=src or isp["address"], secret=isp["secret"])
    assert reply.code == "Accounting-Response"


@pytest.mark.parametrize("status", ["Accounting-On", "Accounting-Off"])
async def test_accounting_on_or_off_closes_only_that_routers_open_sessions(new_address, status):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    other_isp = await make_isp(address=new_address(), codes=[code])
    acct_ok(isp, acct(code, "Start", session_id="a1"))
    acct_ok(other_isp, acct(code, "Start", session_id="a1"))

    acct_ok(isp, {"Acct-Status-Type": status, "NAS-Identifier": "MikroTik"})

    [mine] = await sessions(isp["tenant_id"])
    assert (mine["open"], mine["cause"]) == (False, "NAS-Reboot")
    [theirs] = await sessions(other_isp["tenant_id"])
    assert theirs["open"] is True


async def test_start_from_a_device_with_an_open_session_closes_the_old_one(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    acct_ok(
        isp, acct(code, "Start", session_id="old", **{"Calling-Station-Id": "AA:00:00:00:00:01"})
    )
    acct_ok(
        isp, acct(code, "Start", session_id="other", **{"Calling-Station-Id": "AA:00:00:00:00:02"})
    )
    acct_ok(
        isp,
        acct(
            code.lower(), "Start", session_id="new", **{"Calling-Station-Id": "aa:00:00:00:00:01"}
        ),
    )

    rows = {r["id"]: r for r in await sessions(isp["tenant_id"])}
    assert (rows["old"]["open"], rows["old"]["cause"]) == (False, "Superseded")
    assert rows["other"]["open"] and rows["new"]["open"]
    assert all(r["has_voucher"] for r in rows.values())


async def test_retransmitted_and_out_of_order_packets_change_nothing_twice(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    start = acct(code, "Start", session_id="s1")
    early = acct(
        code,
        "Interim-Update",
        session_id="s1",
        **{"Acct-Session-Time": 300, "Acct-Input-Octets": 100},
    )
    later = acct(
        code,
        "Interim-Update",
        session_id="s1",
        **{"Acct-Session-Time": 600, "Acct-Input-Octets": 900},
    )
    for request in (start, start, later):
        acct_ok(isp, request)
    # The router's earlier interim arrives late (retransmitted, or replayed from the spool).
    acct_ok(isp, early)

    [row] = await sessions(isp["tenant_id"])
    assert (row["secs"], row["bytes_in"], row["open"]) == (600, 900, True)

    stop = acct(
        code,
        "Stop",
        session_id="s1",
        **{
            "Acct-Session-Time": 700,
            "Acct-Input-Octets": 1000,
            "Acct-Terminate-Cause": "User-Request",
        },
    )
    acct_ok(isp, stop)
    acct_ok(isp, stop)
    acct_ok(isp, later)  # an interim after the Stop does not reopen the session
    [row] = await sessions(isp["tenant_id"])
    assert (row["secs"], row["bytes_in"], row["open"], row["cause"]) == (
        700,
        1000,
        False,
        "User-Request",
    )


async def test_lost_start_is_recovered_from_the_interim_or_the_stop(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    acct_ok(isp, acct(code, "Interim-Update", session_id="i1", **{"Acct-Session-Time": 300}))
    acct_ok(
        isp,
        acct(code, "Stop", session_id="x1", **{"Acct-Session-Time": 120, "Acct-Input-Octets": 5}),
    )
    rows = {r["id"]: r for r in await sessions(isp["tenant_id"])}
    assert (rows["i1"]["open"], rows["i1"]["secs"]) == (True, 300)
    assert (rows["x1"]["open"], rows["x1"]["secs"], rows["x1"]["bytes_in"]) == (False, 120, 5)


async def test_sweeper_closes_ghost_sessions_and_a_late_update_revives_them(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    acct_ok(
        isp, acct(code, "Start", session_id="ghost", **{"Calling-Station-Id": "AA:00:00:00:00:01"})
    )
    acct_ok(
        isp, acct(code, "Start", session_id="alive", **{"Calling-Station-Id": "AA:00:00:00:00:02"})
    )
    await sql(
        "UPDATE radacct SET acctstarttime = now() - interval '1 hour', "
        "acctupdatetime = now() - interval '11 minutes' "
        "WHERE tenant_id = :t AND acctsessionid = 'ghost'",
        t=isp["tenant_id"],
    )
    await sql("SELECT close_stale_sessions()")

    rows = {r["id"]: r for r in await sessions(isp["tenant_id"])}
    assert (rows["ghost"]["open"], rows["ghost"]["cause"]) == (False, "Stale-Session")
    assert rows["ghost"]["secs"] == 49 * 60  # up to its last update, not to now
    assert rows["alive"]["open"] is True

    # It was only the network: the router's next interim proves the session alive.
    acct_ok(
        isp,
        acct(
            code,
            "Interim-Update",
            session_id="ghost",
            **{"Calling-Station-Id": "AA:00:00:00:00:01", "Acct-Session-Time": 3600},
        ),
    )
    rows = {r["id"]: r for r in await sessions(isp["tenant_id"])}
    assert (rows["ghost"]["open"], rows["ghost"]["cause"], rows["ghost"]["secs"]) == (
        True,
        None,
        3600,
    )
