"""Access-Request handling against the real FreeRADIUS, with radclient as the MikroTik router."""

from __future__ import annotations

import asyncio

from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import hotspot_request, send


async def test_pap_login_gets_plan_attributes_and_signed_accept(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), rate=(2000, 4000), duration=3600, codes=[code])

    reply = send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])

    assert reply.code == "Access-Accept"
    assert reply["Mikrotik-Rate-Limit"] == "2M/4M"
    assert reply["Session-Timeout"] == "3600"
    assert reply["Acct-Interim-Interval"] == "300"
    assert reply["Message-Authenticator"].startswith("0x")
    assert reply["Class"].startswith("0x")


async def test_each_login_gets_a_class_of_its_own(new_address):
    """The login's prepared statement makes the Class (queries.conf): "mn:" and 32 hex digits,
    never the same twice, even for the same device logging in again at once (accounting keys
    sessions on it)."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])

    classes = [
        send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])["Class"]
        for _ in range(5)
    ]

    for value in classes:
        text = bytes.fromhex(value.removeprefix("0x")).decode()
        assert text.startswith("mn:") and len(text) == 35, text
        int(text[3:], 16)
    assert len(set(classes)) == 5, classes


async def test_chap_login_as_mikrotik_hotspot_sends_it(new_address):
    code = random_code(6)
    isp = await make_isp(address=new_address(), rate=(1000, 3000), duration=1800, codes=[code])

    reply = send("auth", hotspot_request(code, chap=True), src=isp["address"], secret=isp["secret"])

    assert reply.code == "Access-Accept"
    assert reply["Mikrotik-Rate-Limit"] == "1M/3M"
    assert reply["Session-Timeout"] == "1800"
    assert reply["Message-Authenticator"].startswith("0x")


async def test_code_is_case_insensitive_for_pap_and_chap(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])

    for chap in (False, True):
        reply = send(
            "auth",
            hotspot_request(code.lower(), chap=chap),
            src=isp["address"],
            secret=isp["secret"],
        )
        assert reply.code == "Access-Accept", f"chap={chap}"


async def test_wrong_code_is_rejected_with_reason_and_signed(new_address):
    isp = await make_isp(address=new_address(), codes=[random_code()])

    for chap in (False, True):
        reply = send(
            "auth",
            hotspot_request(random_code(), chap=chap),
            src=isp["address"],
            secret=isp["secret"],
        )
        assert reply.code == "Access-Reject"
        assert reply["Reply-Message"] == "Invalid voucher code"
        assert reply["Message-Authenticator"].startswith("0x")
        assert "Session-Timeout" not in reply.attrs and "Mikrotik-Rate-Limit" not in reply.attrs


async def test_password_other_than_the_code_is_rejected(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    attrs = hotspot_request(code) | {"User-Password": random_code()}

    reply = send("auth", attrs, src=isp["address"], secret=isp["secret"])

    assert reply.code == "Access-Reject"
    rows = await sql(
        "SELECT first_used_at FROM voucher WHERE code = :c AND tenant_id = :t",
        c=code,
        t=isp["tenant_id"],
    )
    assert rows[0]["first_used_at"] is None, "a failed login must not start the clock"


async def test_same_code_at_two_isps_gets_each_isps_own_plan(new_address):
    code = random_code()
    isp_a = await make_isp(address=new_address(), rate=(2000, 4000), duration=3600, codes=[code])
    isp_b = await make_isp(address=new_address(), rate=(1000, 1000), duration=1800, codes=[code])

    reply_a = send("auth", hotspot_request(code), src=isp_a["address"], secret=isp_a["secret"])
    reply_b = send(
        "auth", hotspot_request(code, chap=True), src=isp_b["address"], secret=isp_b["secret"]
    )

    assert (reply_a.code, reply_a["Mikrotik-Rate-Limit"], reply_a["Session-Timeout"]) == (
        "Access-Accept",
        "2M/4M",
        "3600",
    )
    assert (reply_b.code, reply_b["Mikrotik-Rate-Limit"], reply_b["Session-Timeout"]) == (
        "Access-Accept",
        "1M/1M",
        "1800",
    )


async def test_router_of_isp_b_cannot_use_a_code_only_isp_a_issued(new_address):
    code = random_code()
    await make_isp(address=new_address(), codes=[code])
    isp_b = await make_isp(address=new_address(), codes=[random_code()])

    reply = send("auth", hotspot_request(code), src=isp_b["address"], secret=isp_b["secret"])

    assert reply.code == "Access-Reject"
    rows = await sql(
        "SELECT count(*) AS n FROM voucher WHERE code = :c AND first_used_at IS NOT NULL", c=code
    )
    assert rows[0]["n"] == 0


async def test_unregistered_source_address_gets_no_answer(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])

    # Right code, right secret, but from an address that is no router.
    reply = send("auth", hotspot_request(code), src=new_address(), secret=isp["secret"], retries=2)

    assert reply.code is None


async def test_wrong_secret_never_gets_an_accept(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])

    for chap in (False, True):
        attrs = hotspot_request(code, chap=chap) | {"Message-Authenticator": "0x00"}
        reply = send("auth", attrs, src=isp["address"], secret="not-the-router-secret", retries=1)
        assert reply.code is None  # bad Message-Authenticator: dropped


async def test_router_added_while_running_works_and_removal_takes_effect_at_once(new_address):
    """The server learns a new router on its first packet (dynamic clients); disabling or
    deleting it, or moving it to another address, stops it at once even though the server
    still holds its client entry, because every request re-checks the router in SQL."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    assert (
        send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"]).code
        == "Access-Accept"
    )

    await sql("UPDATE router SET enabled = false WHERE id = :id", id=isp["router_id"])
    reply = send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])
    assert (reply.code, reply["Reply-Message"]) == ("Access-Reject", "Unknown router")

    await sql("UPDATE router SET enabled = true WHERE id = :id", id=isp["router_id"])
    assert (
        send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"]).code
        == "Access-Accept"
    )

    await sql("DELETE FROM router WHERE id = :id", id=isp["router_id"])
    assert (
        send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"]).code
        == "Access-Reject"
    )


async def test_first_login_starts_the_clock_and_later_logins_get_time_left(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), duration=3600, codes=[code])
    assert (
        send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"]).code
        == "Access-Accept"
    )
    rows = await sql(
        "SELECT status, expires_at - first_used_at AS validity FROM voucher "
        "WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    assert rows[0]["status"] == "active" and rows[0]["validity"].total_seconds() == 3600

    # As if the first login was 20 minutes ago.
    await sql(
        "UPDATE voucher SET first_used_at = first_used_at - interval '20 minutes', "
        "expires_at = expires_at - interval '20 minutes' WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    reply = send("auth", hotspot_request(code, chap=True), src=isp["address"], secret=isp["secret"])
    assert reply.code == "Access-Accept"
    assert 2395 <= int(reply["Session-Timeout"]) <= 2400


async def test_attempts_are_logged_with_reason_and_without_password(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    wrong = random_code()
    send("auth", hotspot_request(code), src=isp["address"], secret=isp["secret"])
    send("auth", hotspot_request(wrong), src=isp["address"], secret=isp["secret"])
    await asyncio.sleep(0)

    rows = await sql(
        "SELECT username, reply, reason, host(nasipaddress) AS nas FROM radpostauth "
        "WHERE tenant_id = :t ORDER BY id",
        t=isp["tenant_id"],
    )
    assert [(r["username"], r["reply"], r["reason"]) for r in rows] == [
        (code, "Access-Accept", None),
        (wrong, "Access-Reject", "Invalid voucher code"),
    ]
    assert {r["nas"] for r in rows} == {isp["address"]}
    columns = await sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'radpostauth'"
    )
    assert "pass" not in {c["column_name"] for c in columns}
