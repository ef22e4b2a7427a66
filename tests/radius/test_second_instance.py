"""A second FreeRADIUS on the same PostgreSQL, for router failover: its configuration rendered
by radius/render.py into a temporary directory with the values deploy/stack.sh passes, started
on free ports, then stopped. A router registered once is served by both; a voucher is accepted
by both; a session accounted partly by one and partly by the other is one radacct row."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import make_url

from radius.render import render
from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import Reply, accounting_request, hotspot_request, send, warm_up


@dataclass(frozen=True)
class Instance:
    auth_port: int
    acct_port: int


def free_udp_ports(count: int) -> list[int]:
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextmanager
def talking_to(instance: Instance) -> Iterator[None]:
    """radclient (tests/radius/radclient.py) sends to the ports in the environment."""
    names = ("MNETIFI_RADIUS_AUTH_PORT", "MNETIFI_RADIUS_ACCT_PORT")
    saved = [os.environ[n] for n in names]
    os.environ.update(zip(names, (str(instance.auth_port), str(instance.acct_port)), strict=True))
    try:
        yield
    finally:
        os.environ.update(zip(names, saved, strict=True))


def status(instance: Instance) -> Reply:
    """Status-Server from the health-check client, as deploy/stack.sh's radius_alive sends it."""
    with talking_to(instance):
        return send(
            "status",
            {"Message-Authenticator": "0x00"},
            src=os.environ["MNETIFI_RADIUS_STATUS_SOURCE"],
            secret=os.environ["MNETIFI_RADIUS_STATUS_SECRET"],
            retries=1,
            timeout=0.3,
        )


@pytest.fixture(scope="module")
def second(tmp_path_factory) -> Iterator[Instance]:
    base = tmp_path_factory.mktemp("radius2")
    run, raddb = base / "run", base / "raddb"
    (run / "log").mkdir(parents=True)
    (run / "radacct").mkdir()
    db = make_url(os.environ["MNETIFI_DATABASE_URL"])
    auth, acct = free_udp_ports(2)
    values = {
        "RUN_DIR": str(run),
        "DB_HOST": db.host or "127.0.0.1",
        "DB_PORT": str(db.port),
        # FreeRADIUS's own least-privilege role, as the stack's first instance uses.
        "DB_USER": os.environ["MNETIFI_RADIUS_DB_USER"],
        "DB_PASSWORD": os.environ["MNETIFI_RADIUS_DB_PASSWORD"],
        "DB_NAME": db.database or "",
        "AUTH_PORT": str(auth),
        "ACCT_PORT": str(acct),
        "STATUS_CLIENT_IP": os.environ["MNETIFI_RADIUS_STATUS_SOURCE"],
        "STATUS_SECRET": os.environ["MNETIFI_RADIUS_STATUS_SECRET"],
        "LISTEN_ADDR": "127.0.0.1",
        "THREADS": "2",
        # The key subscribers' passwords are decrypted with, as the first instance has it.
        "RADIUS_PASSWORD_KEY": os.environ["MNETIFI_RADIUS_PASSWORD_KEY"],
    }
    render(raddb, values)
    check = subprocess.run(["freeradius", "-XC", "-d", str(raddb)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    # In the foreground (-f), so this process owns it and stops it.
    proc = subprocess.Popen(
        ["freeradius", "-f", "-d", str(raddb)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    instance = Instance(auth, acct)
    try:
        deadline = time.monotonic() + 15
        while status(instance).code != "Access-Accept":
            assert proc.poll() is None, (run / "log" / "radius.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the second FreeRADIUS never answered"
        yield instance
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert status(instance).code is None, "the second FreeRADIUS still answers after stopping"
    spooled = list((run / "radacct").rglob("detail*"))
    assert not spooled, f"accounting went to the disk spool, not PostgreSQL: {spooled}"


def primary() -> Instance:
    return Instance(
        int(os.environ["MNETIFI_RADIUS_AUTH_PORT"]), int(os.environ["MNETIFI_RADIUS_ACCT_PORT"])
    )


async def test_a_voucher_is_accepted_by_both_and_accounting_lands_in_one_row(second, new_address):
    code = random_code()
    isp = await make_isp(address=new_address(), codes=[code])  # registered once, via the API
    router = {"src": isp["address"], "secret": isp["secret"]}
    with talking_to(second):
        warm_up(**router)  # learned at run time from the same database, like the first did

    replies = {}
    for name, instance in (("first", primary()), ("second", second)):
        with talking_to(instance):
            replies[name] = send("auth", hotspot_request(code), **router)
    for name, reply in replies.items():
        assert reply.code == "Access-Accept", (name, reply.output)
        assert reply["Mikrotik-Rate-Limit"] == "2M/4M", name
        assert 3500 < int(reply["Session-Timeout"]) <= 3600, name
    # One voucher clock: the first login started it, the second login found it running.
    [voucher] = await sql(
        "SELECT first_used_at, expires_at FROM voucher WHERE tenant_id = :t AND code = :c",
        t=isp["tenant_id"],
        c=code,
    )
    assert voucher["first_used_at"] is not None

    # The router accounts with the second (the first is "down"), then fails back to the first.
    session = {"session_id": "80f00042", "Class": replies["second"]["Class"]}
    with talking_to(second):
        start = send("acct", accounting_request(code, "Start", **session), **router)
    with talking_to(primary()):
        interim = send(
            "acct",
            accounting_request(code, "Interim-Update", **session, **{"Acct-Session-Time": 300}),
            **router,
        )
    with talking_to(second):
        stop = send(
            "acct",
            accounting_request(
                code, "Stop", **session, **{"Acct-Session-Time": 420, "Acct-Input-Octets": 7}
            ),
            **router,
        )
    assert [start.code, interim.code, stop.code] == ["Accounting-Response"] * 3
    rows = await sql(
        "SELECT host(nasipaddress) AS nas, acctsessionid, acctsessiontime, acctinputoctets, "
        "acctstoptime IS NOT NULL AS closed FROM radacct WHERE tenant_id = :t",
        t=isp["tenant_id"],
    )
    assert [dict(r) for r in rows] == [
        {
            "nas": isp["address"],
            "acctsessionid": "80f00042",
            "acctsessiontime": 420,
            "acctinputoctets": 7,
            "closed": True,
        }
    ]
