"""PostgreSQL down: logins fail closed at once, accounting is acknowledged and spooled to disk,
and the spool is replayed into radacct when the database returns, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from api.db import get_engine
from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import accounting_request, hotspot_request, send

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = 100  # x (Start, 3 Interim-Updates, Stop) = 500 packets


def stack(command: str) -> None:
    env = os.environ | {
        "MNETIFI_PG_PORT": str(make_url(os.environ["MNETIFI_DATABASE_URL"]).port),
    }
    subprocess.run(
        [str(ROOT / "deploy" / "stack.sh"), command, "test"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def packets(codes: list[str]) -> list[dict]:
    """Five packets per session, interleaved across sessions as a busy router sends them."""
    out = []
    for step in range(5):
        for n, code in enumerate(codes):
            sid = f"{n:08x}"
            if step == 0:
                out.append(accounting_request(code, "Start", session_id=sid))
                continue
            usage = {
                "Acct-Session-Time": 60 * step,
                "Acct-Input-Octets": 1000 * step + n,
                "Acct-Input-Gigawords": step // 4,  # the Stop crosses 4 GiB
                "Acct-Output-Octets": 7 * step,
            }
            status = "Stop" if step == 4 else "Interim-Update"
            out.append(accounting_request(code, status, session_id=sid, **usage))
    return out


def radclient_file(requests: list[dict], src: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".radclient", delete=False) as handle:
        for attrs in requests:
            for name, value in attrs.items():
                quoted = value if isinstance(value, int) else f'"{value}"'
                handle.write(f"{name} = {quoted}\n")
            handle.write(f"Packet-Src-IP-Address = {src}\n\n")
    return handle.name


@asynccontextmanager
async def database_outage():
    """Stop the test stack's PostgreSQL; whatever happens, start it again afterwards."""
    await get_engine().dispose()
    stack("db-stop")
    try:
        yield
    finally:
        stack("db-start")
        await get_engine().dispose()


async def test_db_down_auth_fails_closed_and_500_accounting_packets_are_replayed(new_address):
    codes = [random_code() for _ in range(SESSIONS)]
    isp = await make_isp(address=new_address(), codes=codes)
    spool = Path(os.environ["MNETIFI_RUN_DIR"]) / "radius" / "radacct" / "spool"
    requests = packets(codes)
    assert len(requests) == 500
    path = radclient_file(requests, isp["address"])

    async with asyncio.timeout(300):
        async with database_outage():
            started = time.monotonic()
            reply = send(
                "auth", hotspot_request(codes[0]), src=isp["address"], secret=isp["secret"]
            )
            assert reply.code in ("Access-Reject", None)
            assert reply.code is None or reply["Reply-Message"] == "Service temporarily unavailable"
            assert time.monotonic() - started < 4
            # A PPPoE subscriber's login (its own statement and map) fails closed the same way.
            ppp = send(
                "auth",
                {"User-Name": "someone", "User-Password": "secret", "Framed-Protocol": "PPP",
                 "Service-Type": "Framed-User", "Message-Authenticator": "0x00"},
                src=isp["address"], secret=isp["secret"],
            )  # fmt: skip
            assert ppp.code in ("Access-Reject", None)
            assert ppp.code is None or ppp["Reply-Message"] == "Service temporarily unavailable"

            out = subprocess.run(  # noqa: ASYNC221 (the event loop has nothing else to do)
                ["radclient", "-s", "-q", "-p", "20", "-r", "3", "-t", "3", "-f", path, "--",
                 f"127.0.0.1:{os.environ['MNETIFI_RADIUS_ACCT_PORT']}", "acct", isp["secret"]],
                capture_output=True, text=True, timeout=120, check=False,
            ).stdout  # fmt: skip
            # Every packet acknowledged, none lost, while PostgreSQL is down.
            summary = dict(re.findall(r"^\s*(\w[\w ]*?)\s*:\s*(\d+)$", out, re.MULTILINE))
            assert (summary["Accepted"], summary["Lost"]) == ("500", "0"), out
            assert any(p.stat().st_size > 0 for p in spool.glob("detail*")), "nothing spooled"

        # Replayed within a minute of PostgreSQL coming back.
        deadline = time.monotonic() + 60
        while True:
            rows = await sql(
                "SELECT count(*) AS n, count(acctstoptime) AS closed, "
                "sum(acctinputoctets) AS bytes_in, sum(acctoutputoctets) AS bytes_out, "
                "sum(acctsessiontime) AS secs, count(DISTINCT acctuniqueid) AS ids "
                "FROM radacct WHERE tenant_id = :t",
                t=isp["tenant_id"],
            )
            done = rows[0]["closed"] == SESSIONS
            if done or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)

    os.unlink(path)
    expected_in = sum(2**32 + 4000 + n for n in range(SESSIONS))
    assert dict(rows[0]) == {
        "n": SESSIONS,
        "closed": SESSIONS,
        "bytes_in": expected_in,
        "bytes_out": 28 * SESSIONS,
        "secs": 240 * SESSIONS,
        "ids": SESSIONS,
    }
    # And logins work again.
    reply = send("auth", hotspot_request(codes[0]), src=isp["address"], secret=isp["secret"])
    assert reply.code == "Access-Accept"


async def test_a_packet_postgresql_refuses_is_set_aside_and_does_not_block_the_spool(
    new_address,
):
    """An ISP deleted while FreeRADIUS still has its router in memory: the router's accounting
    cannot be stored (no such tenant). It is acknowledged, spooled, and on replay moved to the
    dead-letter file, so the spool keeps draining."""
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])
    radius_dir = Path(os.environ["MNETIFI_RUN_DIR"]) / "radius"
    await sql("DELETE FROM tenant WHERE id = :t", t=isp["tenant_id"])

    session_id = random_code()
    reply = send(
        "acct",
        accounting_request(code, "Start", session_id=session_id),
        src=isp["address"],
        secret=isp["secret"],
    )
    assert reply.code == "Accounting-Response"

    deadline = time.monotonic() + 30
    while True:
        letters = "".join(p.read_text() for p in (radius_dir / "radacct" / "deadletter").glob("*"))
        spool = radius_dir / "radacct" / "spool"
        pending = sum(p.stat().st_size for p in spool.glob("detail*"))
        if session_id in letters and pending == 0 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert session_id in letters
    assert pending == 0
