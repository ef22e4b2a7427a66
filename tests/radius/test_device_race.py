"""New devices racing for a voucher's last slot: the router sends the accounting Start only after
the Accept, so devices logging in within the same second must be told apart in the login path
itself (radius_post_auth() under the voucher's row lock)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.radius.conftest import make_isp, random_code, random_mac, sql
from tests.radius.radclient import accounting_request, hotspot_request, send

RACE_MESSAGE = "Device limit reached: another device just logged in with this voucher"


def login_all(isp: dict, code: str, macs: list[str]) -> list:
    def login(mac: str):
        return send(
            "auth", hotspot_request(code, mac=mac), src=isp["address"], secret=isp["secret"]
        )

    with ThreadPoolExecutor(len(macs)) as pool:
        return list(pool.map(login, macs))


async def devices(code: str, tenant_id: int) -> list[str]:
    rows = await sql(
        "SELECT d.mac FROM voucher_device d JOIN voucher v ON v.id = d.voucher_id "
        "WHERE v.code = :c AND v.tenant_id = :t",
        c=code,
        t=tenant_id,
    )
    return [r["mac"] for r in rows]


async def test_concurrent_new_devices_on_a_one_device_voucher_admit_exactly_one(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    macs = [random_mac() for _ in range(8)]

    replies = login_all(isp, code, macs)

    accepted = [mac for mac, r in zip(macs, replies, strict=True) if r.code == "Access-Accept"]
    assert len(accepted) == 1, [r.output for r in replies]
    assert all(
        r.attrs.get("Reply-Message") == RACE_MESSAGE for r in replies if r.code == "Access-Reject"
    )
    assert await devices(code, isp["tenant_id"]) == accepted


async def test_concurrent_new_devices_on_a_two_device_voucher_admit_exactly_two(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=2)

    replies = login_all(isp, code, [random_mac() for _ in range(8)])

    assert sum(r.code == "Access-Accept" for r in replies) == 2
    assert len(await devices(code, isp["tenant_id"])) == 2


async def test_a_device_admitted_a_moment_ago_holds_its_slot_until_its_session_ends(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    phone, laptop = random_mac(), random_mac()
    assert login_all(isp, code, [phone])[0].code == "Access-Accept"

    # No accounting yet: the phone's Start is on its way.
    reply = login_all(isp, code, [laptop])[0]
    assert (reply.code, reply.attrs.get("Reply-Message")) == ("Access-Reject", RACE_MESSAGE)
    # The same device again is always fine.
    assert login_all(isp, code, [phone])[0].code == "Access-Accept"

    for status, extra in (("Start", {}), ("Stop", {"Acct-Session-Time": 30})):
        request = accounting_request(code, status, mac=phone, session_id="s1", **extra)
        assert send("acct", request, src=isp["address"], secret=isp["secret"]).code
    assert login_all(isp, code, [laptop])[0].code == "Access-Accept"
