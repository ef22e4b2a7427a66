"""Wrong PPPoE passwords are throttled per account (migration 0025), with radclient playing a
RouterOS PPPoE server against the test stack's FreeRADIUS and PostgreSQL. An account has two
buckets: its known device (the MAC of its latest session: the customer's own router) and every
other device. A guesser elsewhere is blocked without locking the customer out; the customer's
router is blocked only by its own wrong passwords; a block refuses before the password is
looked at, so the right password learns nothing either; a new password or staff ends it."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from tests.factories import login, make_staff
from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import send
from tests.radius.test_subscribers import PASSWORD, make_subscriber, ppp_request

ROUTER_MAC = "4C:5E:0C:11:22:33"  # the customer's own router (its sessions' Calling-Station-Id)
GUESSER_MAC = "02:66:00:00:00:01"
LIMIT = 3  # the ISP's guess_max_failures in these tests
BLOCKED = "Too many wrong passwords; try again in 5 minute(s)"  # guess_block_seconds: 300


async def _isp(address: str) -> dict:
    isp = await make_isp(address=address)
    await sql("UPDATE tenant SET guess_max_failures = :n WHERE id = :t", n=LIMIT,
              t=isp["tenant_id"])  # fmt: skip
    return isp


async def _session(isp: dict, username: str, mac: str = ROUTER_MAC) -> None:
    """A session of the account from `mac` (so it becomes the account's known device)."""
    reply = send("acct", {
        "User-Name": username, "Acct-Status-Type": "Start", "Acct-Session-Id": "81a0000b",
        "Framed-Protocol": "PPP", "Service-Type": "Framed-User", "Calling-Station-Id": mac,
        "Framed-IP-Address": "10.20.0.7", "NAS-Port-Type": "Ethernet",
    }, src=isp["address"], secret=isp["secret"])  # fmt: skip
    assert reply.code == "Accounting-Response", reply.output


def _login(isp: dict, username: str, mac: str, password: str = PASSWORD, method: str = "mschap2"):
    attrs = ppp_request(username, method, password=password) | {"Calling-Station-Id": mac}
    return send("auth", attrs, src=isp["address"], secret=isp["secret"])


async def test_a_guesser_is_blocked_and_the_customers_own_router_is_not(new_address):
    isp = await _isp(new_address())
    sub = await make_subscriber(isp, due_in=timedelta(days=10))
    await _session(isp, sub["username"])

    for method in ("pap", "mschap2", "chap"):  # every method's wrong password counts
        wrong = _login(isp, sub["username"], GUESSER_MAC, "not-it", method)
        assert wrong.code == "Access-Reject", method
        assert wrong["Reply-Message"] == "Invalid username or password", method

    # Blocked: the right password gets the same answer as a wrong one, without a check.
    for password in (PASSWORD, "still-not-it"):
        refused = _login(isp, sub["username"], GUESSER_MAC, password)
        assert (refused.code, refused["Reply-Message"]) == ("Access-Reject", BLOCKED), password
    # Another device than the customer's router is another guesser: blocked too.
    assert _login(isp, sub["username"], "02:66:00:00:00:02")["Reply-Message"] == BLOCKED

    # The customer's own router logs in as ever, and the case of the MAC does not matter.
    for mac in (ROUTER_MAC, ROUTER_MAC.lower()):
        own = _login(isp, sub["username"], mac)
        assert own.code == "Access-Accept", own.output
        assert own["Mikrotik-Rate-Limit"] == "5M/10M"

    [row] = await sql("SELECT login_blocked_until > now() + interval '4 minutes' AS blocked "
                      "FROM subscriber WHERE id = :s", s=sub["id"])  # fmt: skip
    assert row["blocked"]
    buckets = await sql("SELECT known_device, blocks FROM subscriber_auth_failure "
                        "WHERE subscriber_id = :s", s=sub["id"])  # fmt: skip
    assert [(b["known_device"], b["blocks"]) for b in buckets] == [(False, 1)]


async def test_the_customers_router_is_blocked_by_its_own_wrong_passwords_only(new_address):
    isp = await _isp(new_address())
    sub = await make_subscriber(isp)
    await _session(isp, sub["username"])

    for _ in range(LIMIT):
        assert _login(isp, sub["username"], ROUTER_MAC, "stale")["Reply-Message"] == (
            "Invalid username or password"
        )
    assert _login(isp, sub["username"], ROUTER_MAC)["Reply-Message"] == BLOCKED
    # Its wrong passwords said nothing about other devices: a new router with the right one is in.
    assert _login(isp, sub["username"], "02:66:00:00:00:09").code == "Access-Accept"


async def test_limits_are_per_account_and_per_isp(new_address):
    """Another account of the ISP, the same username at another ISP, and unknown names are
    untouched by one account's block; unknown names leave no row behind."""
    isp, other_isp = await _isp(new_address()), await _isp(new_address())
    sub = await make_subscriber(isp)
    neighbour = await make_subscriber(isp)
    twin = await make_subscriber(other_isp, username=sub["username"])
    for _ in range(LIMIT):
        _login(isp, sub["username"], GUESSER_MAC, "nope")
        _login(isp, "nobody-" + sub["username"], GUESSER_MAC, "nope")
    assert _login(isp, sub["username"], GUESSER_MAC)["Reply-Message"] == BLOCKED
    assert _login(isp, neighbour["username"], GUESSER_MAC).code == "Access-Accept"
    assert _login(other_isp, twin["username"], GUESSER_MAC).code == "Access-Accept"
    rows = await sql("SELECT subscriber_id FROM subscriber_auth_failure WHERE tenant_id = :t",
                     t=isp["tenant_id"])  # fmt: skip
    assert [r["subscriber_id"] for r in rows] == [sub["id"]]


async def test_fewer_wrong_passwords_than_the_limit_block_nothing(new_address):
    """Below the limit nothing is refused, and a count older than the window starts again."""
    isp = await _isp(new_address())
    sub = await make_subscriber(isp)
    for _ in range(LIMIT - 1):
        _login(isp, sub["username"], GUESSER_MAC, "nope")
    assert _login(isp, sub["username"], GUESSER_MAC).code == "Access-Accept"
    await sql(
        "UPDATE subscriber_auth_failure SET window_start = now() - interval '1 hour' "
        "WHERE subscriber_id = :s",
        s=sub["id"],
    )  # fmt: skip (the window is 15 minutes)
    _login(isp, sub["username"], GUESSER_MAC, "nope")
    assert _login(isp, sub["username"], GUESSER_MAC).code == "Access-Accept"
    [row] = await sql("SELECT failures FROM subscriber_auth_failure WHERE subscriber_id = :s",
                      s=sub["id"])  # fmt: skip
    assert row["failures"] == 1


async def _blocked(isp: dict, sub: dict) -> None:
    for _ in range(LIMIT):
        _login(isp, sub["username"], GUESSER_MAC, "nope")
    assert _login(isp, sub["username"], GUESSER_MAC)["Reply-Message"] == BLOCKED


async def test_staff_unblock_and_a_new_password_end_the_block(client, new_address):
    isp = await _isp(new_address())
    sub = await make_subscriber(isp)
    [row] = await sql("SELECT id, slug FROM tenant WHERE id = :t", t=isp["tenant_id"])
    tenant = SimpleNamespace(**row)
    owner = await make_staff(tenant=tenant, role="owner")
    headers = await login(client, tenant=tenant, staff=owner)
    await _blocked(isp, sub)

    shown = (await client.get(f"/api/v1/subscribers/{sub['id']}", headers=headers)).json()
    assert shown["login_blocked_until"] is not None
    unblocked = await client.post(f"/api/v1/subscribers/{sub['id']}/unblock", headers=headers)
    assert unblocked.status_code == 200 and unblocked.json()["login_blocked_until"] is None
    assert _login(isp, sub["username"], GUESSER_MAC).code == "Access-Accept"
    [event] = await sql("SELECT actor FROM audit_event WHERE tenant_id = :t "
                        "AND action = 'subscriber.unblock'", t=isp["tenant_id"])  # fmt: skip
    assert event["actor"] == owner.email

    await _blocked(isp, sub)
    changed = await client.patch(f"/api/v1/subscribers/{sub['id']}", headers=headers,
                                 json={"password": "Another-2025"})  # fmt: skip
    assert changed.status_code == 200 and changed.json()["login_blocked_until"] is None
    assert _login(isp, sub["username"], GUESSER_MAC, "Another-2025").code == "Access-Accept"
    assert await sql("SELECT 1 FROM subscriber_auth_failure WHERE subscriber_id = :s",
                     s=sub["id"]) == []  # fmt: skip


async def test_an_older_server_calling_without_the_mac_is_still_refused_while_blocked(new_address):
    """During an upgrade a FreeRADIUS on the older configuration calls the function with four
    arguments: no MAC, so the other devices' bucket decides."""
    isp = await _isp(new_address())
    sub = await make_subscriber(isp)
    await _blocked(isp, sub)
    [row] = await sql("SELECT o_blocked FROM radius_authorize_subscriber(:r, :a, :u, 'ppp')",
                      r=isp["router_id"], a=isp["address"], u=sub["username"])  # fmt: skip
    assert row["o_blocked"] == BLOCKED


async def test_a_pppoe_block_is_not_remembered_for_the_hotspot(new_address):
    """FreeRADIUS remembers a refused voucher guesser for a few seconds by router and MAC; a
    PPPoE block must not go into that memory, or the same device's hotspot login with a good
    voucher would be refused with the PPPoE message."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    await sql("UPDATE tenant SET guess_max_failures = :n WHERE id = :t", n=LIMIT,
              t=isp["tenant_id"])  # fmt: skip
    sub = await make_subscriber(isp)
    await _blocked(isp, sub)
    voucher = send("auth", {"User-Name": code, "User-Password": code,
                            "Calling-Station-Id": GUESSER_MAC, "Called-Station-Id": "hotspot1"},
                   src=isp["address"], secret=isp["secret"])  # fmt: skip
    assert voucher.code == "Access-Accept", voucher.output
