"""Device limits and MAC binding, decided by FreeRADIUS from live accounting: a ghost session
(no update for two interim intervals and a minute) never locks a paying customer out."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.radius.conftest import add_router, make_isp, random_code, random_mac, sql
from tests.radius.radclient import accounting_request, hotspot_request, send

PHONE, LAPTOP, TABLET = "AA:00:00:00:00:01", "AA:00:00:00:00:02", "AA:00:00:00:00:03"


def login(isp: dict, code: str, mac: str, src: str | None = None):
    return send(
        "auth", hotspot_request(code, mac=mac), src=src or isp["address"], secret=isp["secret"]
    )


def account(isp: dict, code: str, status: str, mac: str, session_id: str, **attrs):
    request = accounting_request(code, status, mac=mac, session_id=session_id, **attrs)
    reply = send("acct", request, src=isp["address"], secret=isp["secret"])
    assert reply.code == "Accounting-Response"


async def test_device_limit_1_rejects_a_second_device_until_the_first_stops(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    assert login(isp, code, PHONE).code == "Access-Accept"
    account(isp, code, "Start", PHONE, "p1")

    reply = login(isp, code, LAPTOP)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Device limit reached: 1 device(s) already online"
    # The same device logging in again (cookie re-login, another router) is always allowed.
    assert login(isp, code, PHONE).code == "Access-Accept"

    account(isp, code, "Stop", PHONE, "p1", **{"Acct-Session-Time": 60})
    assert login(isp, code, LAPTOP).code == "Access-Accept"


async def test_a_ghost_session_stops_counting_after_the_grace_period(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    await sql("UPDATE tenant SET acct_interim_interval = 300 WHERE id = :t", t=isp["tenant_id"])
    assert login(isp, code, PHONE).code == "Access-Accept"
    account(isp, code, "Start", PHONE, "p1")

    async def last_update_ago(seconds: int) -> None:
        await sql(
            "UPDATE radacct SET acctupdatetime = now() - make_interval(secs => :s) "
            "WHERE tenant_id = :t",
            s=seconds,
            t=isp["tenant_id"],
        )

    # Grace = 2 x 300 s + 60 s. One missed interim is not a ghost yet.
    await last_update_ago(600)
    assert login(isp, code, LAPTOP).code == "Access-Reject"
    # The router went quiet for longer (rebooted, phone walked away): not online any more.
    await last_update_ago(670)
    assert login(isp, code, LAPTOP).code == "Access-Accept"


async def test_device_limit_counts_devices_across_all_routers_of_the_isp(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=2)
    other = new_address()
    await add_router(isp, other)
    assert login(isp, code, PHONE).code == "Access-Accept"
    account(isp, code, "Start", PHONE, "a1")
    assert login(isp, code, LAPTOP, src=other).code == "Access-Accept"
    reply = send(
        "acct",
        accounting_request(code, "Start", mac=LAPTOP, session_id="b1"),
        src=other,
        secret=isp["secret"],
    )
    assert reply.code == "Accounting-Response"

    reply = login(isp, code, TABLET, src=other)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Device limit reached: 2 device(s) already online"


async def test_per_voucher_override_of_the_plans_device_limit(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    await sql(
        "UPDATE voucher SET device_limit = 2 WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    assert login(isp, code, PHONE).code == "Access-Accept"
    account(isp, code, "Start", PHONE, "p1")
    assert login(isp, code, LAPTOP).code == "Access-Accept"


async def test_mac_binding_keeps_the_voucher_on_its_first_devices_forever(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1, mac_binding=True)
    assert login(isp, code, PHONE).code == "Access-Accept"
    account(isp, code, "Start", PHONE, "p1")
    account(isp, code, "Stop", PHONE, "p1", **{"Acct-Session-Time": 60})

    # Nobody is online, yet another device may never use it.
    reply = login(isp, code, LAPTOP)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Voucher is locked to the device(s) that first used it"
    assert login(isp, code, PHONE.lower()).code == "Access-Accept"  # MACs compare in any case

    devices = await sql(
        "SELECT mac, router_id FROM voucher_device WHERE tenant_id = :t", t=isp["tenant_id"]
    )
    assert [dict(d) for d in devices] == [{"mac": PHONE, "router_id": isp["router_id"]}]


async def test_without_binding_devices_are_recorded_but_not_locked(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1)
    assert login(isp, code, PHONE).code == "Access-Accept"
    # The phone's session ends (until its Start arrives, a device admitted a moment ago holds
    # its slot: tests/radius/test_device_race.py).
    account(isp, code, "Start", PHONE, "p1")
    account(isp, code, "Stop", PHONE, "p1", **{"Acct-Session-Time": 60})
    assert login(isp, code, LAPTOP).code == "Access-Accept"  # nobody online: allowed
    devices = await sql(
        "SELECT mac FROM voucher_device WHERE tenant_id = :t ORDER BY mac", t=isp["tenant_id"]
    )
    assert [d["mac"] for d in devices] == [PHONE, LAPTOP]


async def test_two_new_devices_racing_for_the_last_bound_slot_get_one_accept(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code], device_limit=1, mac_binding=True)
    other = new_address()
    await add_router(isp, other)
    macs = [random_mac() for _ in range(6)]

    def attempt(i: int):
        return login(isp, code, macs[i], src=isp["address"] if i % 2 else other)

    with ThreadPoolExecutor(max_workers=6) as pool:
        replies = list(pool.map(attempt, range(6)))
    accepted = [macs[i] for i, r in enumerate(replies) if r.code == "Access-Accept"]
    assert len(accepted) == 1
    bound = await sql("SELECT mac FROM voucher_device WHERE tenant_id = :t", t=isp["tenant_id"])
    assert [b["mac"] for b in bound] == accepted
