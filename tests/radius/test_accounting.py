"""Accounting-Request handling: tenant-scoped rows, 64-bit octets, no cross-ISP collisions."""

from __future__ import annotations

from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import send


def acct(code: str, status: str, **extra) -> dict:
    return {
        "User-Name": code,
        "Acct-Status-Type": status,
        "Acct-Session-Id": "80f00001",
        "Calling-Station-Id": "AA:BB:CC:DD:EE:01",
        "NAS-IP-Address": "10.0.0.1",
        "NAS-Identifier": "MikroTik",
        "Framed-IP-Address": "10.5.50.10",
        **extra,
    }


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
