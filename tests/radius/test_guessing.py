"""Guessing voucher codes costs the guesser: wrong codes are counted per device (on one router)
and per router in radius_post_auth()'s reject path, and radius_authorize() refuses a blocked
device in the statement it runs anyway. The right code from another device always works."""

from __future__ import annotations

from tests.radius.conftest import add_router, make_isp, random_code, random_mac, sql
from tests.radius.radclient import hotspot_request, send


def login(isp: dict, code: str, mac: str, src: str | None = None):
    return send(
        "auth", hotspot_request(code, mac=mac), src=src or isp["address"], secret=isp["secret"]
    )


def guess(isp: dict, mac: str, times: int, src: str | None = None) -> None:
    for _ in range(times):
        reply = login(isp, random_code(), mac, src)
        assert (reply.code, reply["Reply-Message"]) == ("Access-Reject", "Invalid voucher code")


async def failure_row(isp: dict, key: str) -> dict | None:
    rows = await sql(
        "SELECT failures, blocks, blocked_until > now() AS blocked FROM auth_failure "
        "WHERE router_id = :r AND calling_station_id = :k",
        r=isp["router_id"],
        k=key,
    )
    return dict(rows[0]) if rows else None


async def test_five_wrong_codes_block_the_device_but_not_the_right_code_elsewhere(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    guesser, customer = random_mac(), random_mac()

    guess(isp, guesser, 5)

    reply = login(isp, code, guesser)
    assert reply.code == "Access-Reject"
    assert reply["Reply-Message"] == "Too many wrong codes; try again in 5 minute(s)"
    assert await failure_row(isp, guesser) == {"failures": 0, "blocks": 1, "blocked": True}
    # The right code from another device is never locked out.
    assert login(isp, code, customer).code == "Access-Accept"


async def test_four_wrong_codes_then_the_right_one_gets_in(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    phone = random_mac()
    guess(isp, phone, 4)
    assert login(isp, code, phone).code == "Access-Accept"


async def test_each_further_block_is_twice_as_long(new_address):
    isp = await make_isp(address=new_address(), codes=[random_code()])
    guesser = random_mac()
    guess(isp, guesser, 5)
    # The first block (5 min) is over.
    await sql(
        "UPDATE auth_failure SET blocked_until = now() - interval '1 second' "
        "WHERE router_id = :r AND calling_station_id = :k",
        r=isp["router_id"],
        k=guesser,
    )
    guess(isp, guesser, 5)
    reply = login(isp, random_code(), guesser)
    assert reply["Reply-Message"] == "Too many wrong codes; try again in 10 minute(s)"
    assert (await failure_row(isp, guesser))["blocks"] == 2


async def test_a_block_holds_on_its_router_only(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    other = new_address()
    await add_router(isp, other)
    guesser = random_mac()
    guess(isp, guesser, 5)
    assert login(isp, code, guesser).code == "Access-Reject"
    assert login(isp, code, guesser, src=other).code == "Access-Accept"


async def test_mac_rotation_puts_the_router_under_attack_for_devices_that_guessed(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    await sql("UPDATE tenant SET router_guess_max_failures = 10 WHERE id = :t", t=isp["tenant_id"])
    rotated = [random_mac() for _ in range(10)]
    for mac in rotated:
        guess(isp, mac, 1)
    assert (await failure_row(isp, "*"))["blocked"] is True

    # A device that guessed wrong in this window is refused, even with the right code...
    reply = login(isp, code, rotated[0])
    assert reply["Reply-Message"] == "Too many wrong codes; try again in 5 minute(s)"
    # ...a new MAC gets one wrong guess and is refused from then on...
    newcomer = random_mac()
    guess(isp, newcomer, 1)
    assert login(isp, code, newcomer).code == "Access-Reject"
    # ...and a customer whose device has no recent wrong code gets in.
    assert login(isp, code, random_mac()).code == "Access-Accept"


async def test_refusals_that_are_not_guesses_count_nothing(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    await sql("UPDATE voucher SET status = 'revoked' WHERE code = :c", c=code)
    phone = random_mac()
    for _ in range(6):
        reply = login(isp, code, phone)
        assert (reply.code, reply["Reply-Message"]) == ("Access-Reject", "Voucher revoked")
    assert await failure_row(isp, phone) is None


async def test_prune_forgets_rows_idle_for_a_day(new_address):
    isp = await make_isp(address=new_address(), codes=[random_code()])
    old, recent = random_mac(), random_mac()
    guess(isp, old, 1)
    guess(isp, recent, 1)
    await sql(
        "UPDATE auth_failure SET window_start = now() - interval '25 hours' "
        "WHERE router_id = :r AND calling_station_id = :k",
        r=isp["router_id"],
        k=old,
    )
    await sql("SELECT prune_auth_failures()")
    assert await failure_row(isp, old) is None
    assert await failure_row(isp, recent) is not None


async def test_a_blocked_device_is_refused_from_memory_without_a_query(new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    guesser, customer = random_mac(), random_mac()
    guess(isp, guesser, 5)
    assert login(isp, code, guesser)["Reply-Message"].startswith("Too many wrong codes")
    # The database forgets the block: the next guesses are still refused for a few seconds,
    # which only FreeRADIUS's memory can do (they reach no query, so the database is not
    # asked and writes nothing).
    await sql("DELETE FROM auth_failure WHERE router_id = :r", r=isp["router_id"])
    for _ in range(3):
        reply = login(isp, random_code(), guesser)
        assert reply["Reply-Message"].startswith("Too many wrong codes"), reply.output
    assert await failure_row(isp, guesser) is None
    # Another device on the same router is not in that memory.
    assert login(isp, code, customer).code == "Access-Accept"


async def test_a_block_opens_its_routers_gate_whoever_writes_it(new_address):
    """Logins look at auth_failure only while router.auth_blocked_until is ahead (migration
    0023): the trigger moves it forward on every block, however the block was written, never
    back; a block that ended or was lifted leaves the probe on, answering 'not blocked'."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    other = await make_isp(address=new_address(), codes=[random_code()])
    device = random_mac()

    async def gate(isp_: dict) -> bool | None:
        [row] = await sql(
            "SELECT auth_blocked_until > now() AS ahead FROM router WHERE id = :r",
            r=isp_["router_id"],
        )  # fmt: skip
        return row["ahead"]

    assert await gate(isp) is None  # nobody guessed here: no probe
    await sql(
        "INSERT INTO auth_failure (router_id, calling_station_id, tenant_id, blocked_until, "
        "blocks) VALUES (:r, :k, :t, now() + interval '2 minutes', 1)",
        r=isp["router_id"], k=device, t=isp["tenant_id"],
    )  # fmt: skip
    assert await gate(isp) is True and await gate(other) is None
    reply = login(isp, code, device)
    assert (reply.code, reply["Reply-Message"]) == (
        "Access-Reject", "Too many wrong codes; try again in 2 minute(s)"
    )  # fmt: skip
    # Shortening a block never moves the gate back; the probe then finds no block.
    await sql(
        "UPDATE auth_failure SET blocked_until = now() - interval '1 second' "
        "WHERE router_id = :r AND calling_station_id = :k", r=isp["router_id"], k=device,
    )  # fmt: skip
    assert await gate(isp) is True
    other_device = random_mac()
    assert login(isp, code, other_device).code == "Access-Accept"
