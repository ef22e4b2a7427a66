"""The CoA/Disconnect client (radius/coa.py) against simulated MikroTiks (radius/router_sim.py):
ACK, NAK, silence, wrong secrets, forged replies, identifiers and a 1,000-session fan-out. No
database or FreeRADIUS needed; routers listen on loopback addresses of their own."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import random
import socket
import struct
import time

import pytest
from pyrad.dictionary import Dictionary

from radius.coa import DICTIONARY, CoAClient, Target
from radius.router_sim import RouterSim

SECRET = b"router-secret-7"
DICT = Dictionary(str(DICTIONARY))  # parsed once for every client and router of the module
_base = random.randrange(1, 255)
_addresses = (f"127.{_base}.{b}.{c}" for b, c in itertools.product(range(1, 255), range(1, 255)))


@pytest.fixture
async def routers():
    """Starts RouterSims on fresh loopback addresses: `await routers(secret=...)`."""
    started: list[RouterSim] = []

    async def start(secret: bytes = SECRET) -> RouterSim:
        router = RouterSim(next(_addresses), secret, dictionary=DICT)
        await router.start()
        started.append(router)
        return router

    yield start
    for router in started:
        await router.stop()


@pytest.fixture
async def coa():
    async with CoAClient(DICT, timeout=0.2, retries=2, backoff=2.0) as client:
        yield client


def target(router: RouterSim, secret: bytes = SECRET) -> Target:
    return Target(router.address, router.port, secret)


def session(router: RouterSim, session_id: str = "80f00003", **extra: object) -> dict:
    """A session the router holds, and the attributes that name it in a request."""
    known = {"User-Name": "K7H2PQ", "Framed-IP-Address": "10.5.50.10", **extra}
    router.sessions[session_id] = dict(known)
    return {"Acct-Session-Id": session_id, **known}


async def test_disconnect_of_known_session_is_acked_and_ends_it(routers, coa):
    router = await routers()
    names = session(router)
    other = session(router, "80f00004", **{"User-Name": "OTHER1"})

    result = await coa.disconnect(target(router), names)

    assert (result.outcome, result.attempts, result.error_cause) == ("ack", 1, None)
    assert result.rtt_ms is not None and result.rtt_ms > 0
    assert "80f00003" not in router.sessions
    assert router.sessions["80f00004"]["User-Name"] == other["User-Name"]
    assert [r.code for r in router.received] == ["disconnect"]


async def test_coa_is_acked_and_changes_rate_and_timeout(routers, coa):
    router = await routers()
    names = session(router, **{"Mikrotik-Rate-Limit": "5M/5M", "Session-Timeout": 600})

    result = await coa.change(
        target(router), {**names, "Mikrotik-Rate-Limit": "2M/2M", "Session-Timeout": 4200}
    )

    assert (result.outcome, result.attempts) == ("ack", 1)
    held = router.sessions["80f00003"]
    assert (held["Mikrotik-Rate-Limit"], held["Session-Timeout"]) == ("2M/2M", 4200)
    assert held["Framed-IP-Address"] == "10.5.50.10"


@pytest.mark.parametrize("send", ["disconnect", "change"])
async def test_unknown_session_is_nak_503_and_not_retried(routers, coa, send):
    router = await routers()
    session(router)

    result = await getattr(coa, send)(
        target(router), {"User-Name": "K7H2PQ", "Acct-Session-Id": "deadbeef"}
    )

    assert (result.outcome, result.attempts, result.error_cause) == ("nak", 1, 503)
    assert result.detail == "NAK: session not found (503)"
    await asyncio.sleep(0.5)  # longer than the client's first resend interval
    assert len(router.received) == 1
    assert "80f00003" in router.sessions


async def test_nak_with_another_cause_is_reported(routers, coa):
    router = await routers()
    router.answer("nak", error_cause=501)

    result = await coa.disconnect(target(router), session(router))

    assert (result.outcome, result.error_cause) == ("nak", 501)
    assert result.detail == "NAK: administratively prohibited (501)"
    assert "80f00003" in router.sessions  # a NAKed Disconnect ends nothing


async def test_silence_times_out_after_all_retries_with_backoff(routers, coa):
    router = await routers()
    router.answer("silent")
    started = time.monotonic()

    result = await coa.disconnect(target(router), session(router))

    elapsed = time.monotonic() - started
    assert (result.outcome, result.attempts) == ("timeout", 3)
    assert result.detail == "no answer after 3 tries"
    assert [r.answer for r in router.received] == ["silent"] * 3
    assert len({r.raw for r in router.received}) == 1  # resent as the same bytes
    arrivals = [r.at for r in router.received]
    first_gap, second_gap = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert 0.15 <= first_gap < 0.35  # timeout
    assert 0.35 <= second_gap < 0.7  # timeout * backoff
    assert elapsed >= 0.2 + 0.4 + 0.8 - 0.05  # and timeout * backoff**2 after the last send
    assert "80f00003" in router.sessions


async def test_answer_to_a_resend_is_taken(routers, coa):
    router = await routers()
    router.answer("silent", times=1)

    result = await coa.disconnect(target(router), session(router))

    assert (result.outcome, result.attempts) == ("ack", 2)
    assert [r.answer for r in router.received] == ["silent", "ack"]
    assert router.sessions == {}


async def test_router_with_another_secret_drops_the_request_and_client_times_out(routers, coa):
    router = await routers(secret=b"the-routers-own-secret")
    session(router)

    result = await coa.disconnect(target(router, SECRET), {"Acct-Session-Id": "80f00003"})

    assert (result.outcome, result.attempts) == ("timeout", 3)
    assert router.rejected == 3
    assert router.received == []
    assert "80f00003" in router.sessions


@pytest.mark.parametrize("forgery", ["forged", "forged-ma"])
async def test_reply_failing_verification_is_ignored(routers, coa, forgery):
    """forged: Response Authenticator made with another secret; forged-ma: a right Response
    Authenticator over a wrong Message-Authenticator."""
    router = await routers()
    router.answer(forgery)

    result = await coa.change(target(router), session(router, **{"Session-Timeout": 60}))

    assert (result.outcome, result.attempts) == ("timeout", 3)
    assert [r.answer for r in router.received] == [forgery] * 3


@pytest.mark.parametrize("forgery", ["forged", "forged-ma"])
async def test_valid_reply_after_a_forged_one_is_taken(routers, coa, forgery):
    router = await routers()
    router.answer(forgery, times=1)

    result = await coa.change(target(router), session(router))

    assert (result.outcome, result.attempts) == ("ack", 2)


async def test_attributes_arrive_as_sent_and_signed(routers, coa):
    router = await routers()
    names = session(router, **{"Calling-Station-Id": "AA:BB:CC:DD:EE:01"})
    sent = {**names, "Session-Timeout": 3600, "Mikrotik-Rate-Limit": "1M/2M 4M/4M 1M/1M 10/10"}

    result = await coa.change(target(router), sent)

    assert result.outcome == "ack"
    [received] = router.received
    got = received.attributes
    assert {name: got[name] for name in sent} == sent
    assert abs(got["Event-Timestamp"] - time.time()) < 5
    assert "NAS-IP-Address" not in got
    assert received.message_authenticator
    assert_signed(received.raw, SECRET)


def assert_signed(raw: bytes, secret: bytes) -> None:
    """RFC 5176 section 3.3, computed here rather than by pyrad: the Request Authenticator is
    MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret), and the Message-Authenticator
    the HMAC-MD5 of the packet with both the Authenticator and its own value zeroed."""
    length = struct.unpack("!H", raw[2:4])[0]
    raw = raw[:length]
    zeroed = raw[:4] + bytes(16) + raw[20:]
    assert hashlib.md5(zeroed + secret).digest() == raw[4:20]
    position, mac = 20, None
    while position < len(raw):
        kind, size = raw[position], raw[position + 1]
        if kind == 80:
            mac = raw[position + 2 : position + size]
            zeroed = zeroed[: position + 2] + bytes(16) + zeroed[position + size :]
        position += size
    assert mac is not None and len(mac) == 16
    assert hmac.compare_digest(hmac.new(secret, zeroed, "md5").digest(), mac)


async def test_retransmission_gets_the_answer_already_given(routers):
    """The simulator, like a NAS (RFC 5080): a Disconnect resent after a lost ACK is ACKed
    again, not NAKed for the session it already ended."""
    router = await routers()
    session(router)
    async with CoAClient(DICT) as client:
        await client.disconnect(target(router), {"Acct-Session-Id": "80f00003"})
    request = router.received[0].raw
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((router.received[0].source[0], router.received[0].source[1]))
        sock.settimeout(2)
        sock.sendto(request, (router.address, router.port))
        reply = await asyncio.to_thread(sock.recv, 4096)  # the router answers on this loop
    assert reply[0] == 41  # Disconnect-ACK
    assert [r.answer for r in router.received] == ["ack", "ack"]


async def test_at_most_256_requests_in_flight_per_router(routers):
    router, other = await routers(), await routers()
    router.answer("silent")
    other.answer("silent")
    async with CoAClient(DICT, timeout=0.5, retries=0) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(client.disconnect(target(router), {"User-Name": f"U{n}"}) for n in range(300)),
            client.disconnect(target(other), {"User-Name": "U0"}),
        )

    assert {r.outcome for r in results} == {"timeout"}
    received = sorted(router.received, key=lambda r: r.at)
    assert len(received) == 300
    first, rest = received[:256], received[256:]
    # The 257th waited for an identifier freed by a timeout, 0.5 s after the first went out
    # (the first's arrival may lag its sending a little: 0.45); without the limit it would have
    # gone within milliseconds. How fast the first 256 went is bench/coa_fanout.py's business.
    assert rest[0].at - first[0].at >= 0.45
    assert rest[0].at - started >= 0.5
    assert len({r.identifier for r in first}) == 256
    assert [r.identifier for r in other.received] == [0]  # ids are per router
    assert other.received[0].at < rest[0].at  # and not held up by the busy one's timeouts


async def test_fan_out_of_1000_sessions_across_20_routers(routers):
    sims = [await routers(secret=f"secret-{n}".encode()) for n in range(20)]
    requests = []
    for n, router in enumerate(sims):
        for k in range(50):
            names = session(
                router,
                f"81{n:02x}{k:04x}",
                **{"User-Name": f"V{n}X{k}", "Framed-IP-Address": f"10.5.{n}.{k + 1}"},
            )
            requests.append((target(router, router.secret), names))

    async with CoAClient(DICT) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.change(t, {**names, "Mikrotik-Rate-Limit": "2M/2M"}) for t, names in requests)
        )
        elapsed = time.perf_counter() - started

    print(f"\nCoA fan-out: 1000 sessions across 20 routers all answered in {elapsed * 1000:.0f} ms")
    assert [r.outcome for r in results] == ["ack"] * 1000
    assert {r.attempts for r in results} == {1}
    for router in sims:
        assert len(router.received) == 50
        assert {s["Mikrotik-Rate-Limit"] for s in router.sessions.values()} == {"2M/2M"}
