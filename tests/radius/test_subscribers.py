"""Subscribers on the RADIUS path, with radclient playing a RouterOS PPPoE server (PAP, CHAP,
MS-CHAPv1, MS-CHAPv2, computed here per RFC 2433/2759) and a RouterOS DHCP server (User-Name =
the client's MAC), against the real FreeRADIUS and PostgreSQL of the test stack."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import DBAPIError

from api.subscribers import secrets as passwords
from radius.mschap import mschap1, mschap2
from tests.factories import accounting, padding_fails
from tests.radius.conftest import make_isp, random_mac, sql
from tests.radius.radclient import chap_attrs, send

PASSWORD = "Kitengela-2024"


def ppp_request(username: str, method: str, password: str = PASSWORD) -> dict[str, str | int]:
    """An Access-Request shaped like RouterOS's PPPoE server's (PPP AAA, see the reference)."""
    attrs: dict[str, str | int] = {
        "User-Name": username,
        "Service-Type": "Framed-User",
        "Framed-Protocol": "PPP",
        "NAS-Port-Type": "Ethernet",
        "NAS-Port-Id": "ether2",
        "Calling-Station-Id": "4C:5E:0C:11:22:33",
        "Called-Station-Id": "pppoe-service",
        "NAS-Identifier": "MikroTik",
        "Acct-Session-Id": "81a00001",
    }
    if method == "pap":
        attrs["User-Password"] = password
    elif method == "chap":
        attrs.update(chap_attrs(password))
    elif method == "mschap1":
        attrs.update(mschap1(password))
    else:
        attrs.update(mschap2(username, password))
    return attrs


def dhcp_request(mac: str) -> dict[str, str | int]:
    """RouterOS's DHCP server with use-radius=yes: User-Name is the client's MAC."""
    return {
        "User-Name": mac,
        "NAS-Port-Type": "Ethernet",
        "Calling-Station-Id": "1:" + mac.lower(),
        "Called-Station-Id": "dhcp1",
        "Framed-IP-Address": "10.20.0.254",
        "NAS-Port-Id": "ether3",
    }


async def make_subscriber(
    isp: dict,
    *,
    username: str | None = None,
    kind: str = "pppoe",
    password: str = PASSWORD,
    due_in: timedelta = timedelta(days=20),
    status: str = "active",
    ip: str | None = None,
    mac: str | None = None,
    rate: tuple[int, int] = (5000, 10000),
    rate_limit: str | None = None,
    data_cap: int | None = None,
) -> dict:
    """A subscriber of `isp` with its own monthly plan, its password encrypted as the API does."""
    username = username or "sub-" + secrets.token_hex(4)
    [plan] = await sql(
        """INSERT INTO subscriber_plan (tenant_id, name, price, upload_kbps, download_kbps,
                                        data_cap_bytes, rate_limit)
           VALUES (:t, :n, 1500, :up, :down, :cap, :rl) RETURNING id""",
        t=isp["tenant_id"], n="m-" + secrets.token_hex(4), up=rate[0], down=rate[1],
        cap=data_cap, rl=rate_limit or f"{rate[0] // 1000}M/{rate[1] // 1000}M",
    )  # fmt: skip
    pool = None
    if ip is not None:
        [pool] = await sql(
            "INSERT INTO ip_pool (tenant_id, name, cidr) VALUES (:t, :n, '10.20.0.0/16') "
            "RETURNING id",
            t=isp["tenant_id"], n="pool-" + secrets.token_hex(4),
        )  # fmt: skip
    [row] = await sql(
        """INSERT INTO subscriber (tenant_id, username, kind, encrypted_password, name, plan_id,
                                   due_at, status, ip_address, ip_pool_id, mac)
           VALUES (:t, :u, :k, :pw, 'A subscriber', :p, :due, :st, CAST(:ip AS inet), :pool, :mac)
           RETURNING id""",
        t=isp["tenant_id"], u=username, k=kind, pw=passwords.encrypt(password), p=plan["id"],
        due=datetime.now(UTC) + due_in, st=status, ip=ip, pool=pool and pool["id"], mac=mac,
    )  # fmt: skip
    return {"id": row["id"], "username": username, "plan_id": plan["id"]}


@pytest.mark.parametrize("method", ["pap", "chap", "mschap1", "mschap2"])
async def test_pppoe_login_with_each_method(new_address, method):
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp, due_in=timedelta(days=10))

    reply = send("auth", ppp_request(sub["username"], method), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip

    assert reply.code == "Access-Accept", reply.output
    assert reply["Mikrotik-Rate-Limit"] == "5M/10M"
    assert reply["Framed-Pool"] == "pppoe"
    assert "Framed-IP-Address" not in reply.attrs
    assert reply["Acct-Interim-Interval"] == "300"
    # Capped at the paid-up time: ten days (the ISP's grace is 0 by default).
    assert 10 * 86400 - 60 < int(reply["Session-Timeout"]) <= 10 * 86400
    assert reply["Message-Authenticator"].startswith("0x")
    assert bytes.fromhex(reply["Class"].removeprefix("0x")).startswith(b"mn:")
    if method == "mschap2":
        assert reply["MS-CHAP2-Success"].startswith("0x")  # the router checks the authenticator

    wrong = send("auth", ppp_request(sub["username"], method, password="wrong-password"),
                 src=isp["address"], secret=isp["secret"])  # fmt: skip
    assert wrong.code == "Access-Reject", wrong.output
    assert "Framed-Pool" not in wrong.attrs and "Mikrotik-Rate-Limit" not in wrong.attrs


async def test_username_is_case_insensitive_and_unknown_names_are_refused(new_address):
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp, username="Jane.Doe@estate")

    reply = send("auth", ppp_request("jane.doe@ESTATE", "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    assert reply.code == "Access-Accept", reply.output
    unknown = send("auth", ppp_request("nobody-here", "pap"), src=isp["address"],
                   secret=isp["secret"])  # fmt: skip
    assert unknown.code == "Access-Reject"
    assert unknown["Reply-Message"] == "Invalid username or password"
    assert sub["username"] == "Jane.Doe@estate"


async def test_same_username_at_two_isps_is_resolved_by_the_router(new_address):
    one, two = await make_isp(address=new_address()), await make_isp(address=new_address())
    await make_subscriber(one, username="shared-name", password="one-secret", rate=(1000, 2000))
    await make_subscriber(two, username="shared-name", password="two-secret", rate=(3000, 6000))

    at_one = send("auth", ppp_request("shared-name", "chap", "one-secret"), src=one["address"],
                  secret=one["secret"])  # fmt: skip
    at_two = send("auth", ppp_request("shared-name", "mschap2", "two-secret"), src=two["address"],
                  secret=two["secret"])  # fmt: skip
    crossed = send("auth", ppp_request("shared-name", "pap", "two-secret"), src=one["address"],
                   secret=one["secret"])  # fmt: skip

    assert at_one.code == "Access-Accept" and at_one["Mikrotik-Rate-Limit"] == "1M/2M"
    assert at_two.code == "Access-Accept" and at_two["Mikrotik-Rate-Limit"] == "3M/6M"
    assert crossed.code == "Access-Reject"


async def test_fixed_ip_and_burst_are_returned(new_address):
    isp = await make_isp(address=new_address())
    burst = "5M/10M 8M/16M 3750k/7500k 8/8"
    sub = await make_subscriber(isp, ip="10.20.1.7", rate_limit=burst)

    reply = send("auth", ppp_request(sub["username"], "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip

    assert reply.code == "Access-Accept", reply.output
    assert reply["Framed-IP-Address"] == "10.20.1.7"
    assert "Framed-Pool" not in reply.attrs
    assert reply["Mikrotik-Rate-Limit"] == burst


async def test_static_client_by_mac_through_dhcp_radius(new_address):
    isp = await make_isp(address=new_address())
    mac = random_mac()
    await make_subscriber(isp, kind="static", ip="10.20.3.9", mac=mac)

    reply = send("auth", dhcp_request(mac), src=isp["address"], secret=isp["secret"])
    other = send("auth", dhcp_request(random_mac()), src=isp["address"], secret=isp["secret"])

    assert reply.code == "Access-Accept", reply.output
    assert reply["Framed-IP-Address"] == "10.20.3.9"
    assert reply["Mikrotik-Rate-Limit"] == "5M/10M"
    assert 0 < int(reply["Session-Timeout"]) <= 3600  # the lease: asked again within the hour
    assert other.code == "Access-Reject"


async def test_expired_subscriber_is_accepted_into_the_expired_pool(new_address):
    isp = await make_isp(address=new_address())
    await sql("UPDATE tenant SET expired_pool = 'unpaid', expired_address_list = 'pay-now', "
              "subscriber_grace_days = 2 WHERE id = :t", t=isp["tenant_id"])  # fmt: skip
    expired = await make_subscriber(isp, ip="10.20.2.2", due_in=-timedelta(days=3))
    in_grace = await make_subscriber(isp, due_in=-timedelta(days=1))
    mac = random_mac()
    await make_subscriber(isp, kind="static", ip="10.20.2.3", mac=mac, due_in=-timedelta(days=5))

    reply = send("auth", ppp_request(expired["username"], "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    grace = send("auth", ppp_request(in_grace["username"], "pap"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    static = send("auth", dhcp_request(mac), src=isp["address"], secret=isp["secret"])
    wrong = send("auth", ppp_request(expired["username"], "pap", "not-it"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip

    for accepted in (reply, static):
        assert accepted.code == "Access-Accept", accepted.output
        assert accepted["Framed-Pool"] == "unpaid"
        assert accepted["Mikrotik-Address-List"] == "pay-now"
        assert "Framed-IP-Address" not in accepted.attrs
        assert "Mikrotik-Rate-Limit" not in accepted.attrs
    assert grace.code == "Access-Accept" and "Mikrotik-Address-List" not in grace.attrs
    assert 0 < int(grace["Session-Timeout"]) <= 86400  # a day of grace left
    assert wrong.code == "Access-Reject"


async def test_suspended_subscriber_is_rejected_with_the_reason(new_address):
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp, status="suspended")

    reply = send("auth", ppp_request(sub["username"], "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    wrong = send("auth", ppp_request(sub["username"], "pap", "guess"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip

    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Account suspended: please contact your internet provider"
    # A wrong password learns nothing about the account.
    assert wrong["Reply-Message"] == "Invalid username or password"


async def test_monthly_data_cap_is_sent_and_enforced(new_address):
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp, data_cap=5 * 2**30)
    reply = send("auth", ppp_request(sub["username"], "pap"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    assert reply["Mikrotik-Total-Limit"] == str(2**30)
    assert reply["Mikrotik-Total-Limit-Gigawords"] == "1"

    await _ppp_accounting(isp, sub["username"], "start", bytes_in=0)
    await _ppp_accounting(isp, sub["username"], "stop", bytes_in=5 * 2**30)
    used_up = send("auth", ppp_request(sub["username"], "pap"), src=isp["address"],
                   secret=isp["secret"])  # fmt: skip
    assert used_up.code == "Access-Reject"
    assert used_up["Reply-Message"] == "Monthly data cap used up"


async def _ppp_accounting(isp: dict, username: str, kind: str, bytes_in: int) -> None:
    await sql(
        "SELECT radius_accounting(:k, :t, :nas, :u, 'ppp-1', :user, :ts, '60', :b, 0, "
        "'4C:5E:0C:11:22:33', 'pppoe-service', '', '', '', 'ether2', 'Ethernet', 'Framed-User', "
        "'PPP', 'RADIUS', '')",
        k=kind, t=str(isp["tenant_id"]), nas=isp["address"], u=f"u-{username}", user=username,
        ts=str(int(datetime.now(UTC).timestamp())), b=bytes_in,
    )  # fmt: skip


async def test_accounting_records_subscriber_sessions_not_vouchers(new_address):
    """A PPP name that spells one of the ISP's voucher codes is the subscriber's session, never
    the voucher's; a static client's DHCP accounting (the MAC) is its own; nothing is lost."""
    code = "ABCD2345"
    isp = await make_isp(address=new_address(), codes=[code])
    sub = await make_subscriber(isp, username=code.lower())
    mac = random_mac()
    static = await make_subscriber(isp, kind="static", ip="10.20.9.9", mac=mac)

    reply = send("acct", {
        "User-Name": code.lower(), "Acct-Status-Type": "Start", "Acct-Session-Id": "81a00009",
        "Framed-Protocol": "PPP", "Service-Type": "Framed-User",
        "Calling-Station-Id": "4C:5E:0C:11:22:33",
        "Framed-IP-Address": "10.20.0.5", "NAS-Port-Type": "Ethernet",
    }, src=isp["address"], secret=isp["secret"])  # fmt: skip
    assert reply.code == "Accounting-Response", reply.output
    await accounting(kind="start", tenant_id=isp["tenant_id"], nas=isp["address"], username=mac,
                     unique=f"dhcp-{mac}", mac=mac)  # fmt: skip
    await accounting(kind="stop", tenant_id=isp["tenant_id"], nas=isp["address"], username=mac,
                     unique=f"dhcp-{mac}", mac=mac, session_time=30, bytes_in=700)  # fmt: skip

    rows = await sql(
        "SELECT username, voucher_id, subscriber_id, acctinputoctets FROM radacct "
        "WHERE tenant_id = :t ORDER BY radacctid", t=isp["tenant_id"],
    )  # fmt: skip
    assert [(r["username"], r["voucher_id"], r["subscriber_id"]) for r in rows] == [
        (code.lower(), None, sub["id"]),
        (mac, None, static["id"]),
    ]
    assert rows[1]["acctinputoctets"] == 700


async def test_the_database_holds_no_usable_password(new_address):
    """What a dump holds is ciphertext; decrypting needs the key only FreeRADIUS's connections
    set (the API's own connection, without it, gets nothing), and the right key gives it back."""
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp)
    [row] = await sql(
        "SELECT encrypted_password, subscriber_password(encrypted_password) AS plain "
        "FROM subscriber WHERE id = :s", s=sub["id"],
    )  # fmt: skip
    stored = bytes(row["encrypted_password"])
    assert PASSWORD.encode() not in stored and PASSWORD.encode("utf-16-le") not in stored
    assert row["plain"] is None
    assert passwords.decrypt(stored) == PASSWORD
    [keyed] = await sql(
        "SELECT set_config('mnetifi.password_key', :k, true), "
        "subscriber_password(encrypted_password) AS plain FROM subscriber WHERE id = :s",
        k=passwords.key().hex(), s=sub["id"],
    )  # fmt: skip
    assert keyed["plain"] == PASSWORD
    # A wrong key is an error (migration 0026), not a wrong password: see below.
    wrong = secrets.token_bytes(32)
    while not padding_fails(stored, wrong):
        wrong = secrets.token_bytes(32)
    with pytest.raises(DBAPIError, match="Decryption failed"):
        await sql(
            "SELECT set_config('mnetifi.password_key', :k, true), "
            "subscriber_password(encrypted_password) AS plain FROM subscriber WHERE id = :s",
            k=wrong.hex(), s=sub["id"],
        )  # fmt: skip


async def test_a_password_the_key_cannot_decrypt_is_unavailable_not_wrong(new_address):
    """A password stored under another key (a server redeployed with a new key, a restored
    backup): the login is refused as "Service temporarily unavailable", whatever the router sent,
    and nothing is counted against the account. When it was taken for a wrong password, every
    subscriber's next logins blocked their own accounts (0025's throttle)."""
    isp = await make_isp(address=new_address())
    await sql("UPDATE tenant SET guess_max_failures = 2 WHERE id = :t", t=isp["tenant_id"])
    sub = await make_subscriber(isp)
    # Encrypted under another key: ours is a wrong key for it.
    blob = passwords.encrypt(PASSWORD, with_key=secrets.token_bytes(32))
    while not padding_fails(blob, passwords.key()):
        blob = passwords.encrypt(PASSWORD, with_key=secrets.token_bytes(32))
    await sql("UPDATE subscriber SET encrypted_password = :pw WHERE id = :s", pw=blob,
              s=sub["id"])  # fmt: skip

    for method in ("pap", "mschap2", "pap", "chap"):
        reply = send("auth", ppp_request(sub["username"], method), src=isp["address"],
                     secret=isp["secret"])  # fmt: skip
        assert reply.code == "Access-Reject", reply.output
        assert reply["Reply-Message"] == "Service temporarily unavailable"

    [row] = await sql("SELECT login_blocked_until FROM subscriber WHERE id = :s", s=sub["id"])
    assert row["login_blocked_until"] is None
    assert not await sql("SELECT 1 FROM subscriber_auth_failure WHERE subscriber_id = :s",
                         s=sub["id"])  # fmt: skip
    # Put right, the account logs in at once.
    await sql("UPDATE subscriber SET encrypted_password = :pw WHERE id = :s",
              pw=passwords.encrypt(PASSWORD), s=sub["id"])  # fmt: skip
    reply = send("auth", ppp_request(sub["username"], "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    assert reply.code == "Access-Accept", reply.output


async def test_radius_authorize_still_answers_for_subscribers_during_an_upgrade(new_address):
    """FreeRADIUS now calls radius_authorize_subscriber() for PPP and DHCP (migration 0023), but a
    server still running the older configuration after the migration calls radius_authorize()
    with p_service 'ppp' or 'dhcp': it must get the same row."""
    isp = await make_isp(address=new_address())
    sub = await make_subscriber(isp, ip="10.20.3.9", mac="4C:5E:0C:AA:BB:CC", kind="static")
    pppoe = await make_subscriber(isp)
    for service, name in (("ppp", pppoe["username"]), ("dhcp", "4C:5E:0C:AA:BB:CC")):
        args = {"r": isp["router_id"], "a": isp["address"], "u": name, "s": service}
        [old] = await sql("SELECT * FROM radius_authorize(:r, :a, :u, '', :s)", **args)
        [new] = await sql("SELECT * FROM radius_authorize_subscriber(:r, :a, :u, :s)", **args)
        assert old == new and old["o_subscriber_id"] in (sub["id"], pppoe["id"]), service
