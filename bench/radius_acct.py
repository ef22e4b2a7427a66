#!/usr/bin/env python3
"""Accounting throughput and loss: Interim-Updates into mnetifi's FreeRADIUS, checked in SQL.

On the full-policy data set (bench/dataset.py: 1,000,000 radacct rows), --sessions sessions are
opened with Accounting-Start (one per voucher, from a device the data set does not use, so no
existing session is superseded), then --interims rounds of Interim-Update are sent for all of
them as fast as the server acknowledges (closed loop, --sockets x --window outstanding). A
session's packets always leave from the same socket, in order, each after the previous one
was acknowledged, as a router's would.

Then every session's row in radacct must hold the counters of its last interim
(acctsessiontime, acctinputoctets, acctoutputoctets, gigawords included): a row that does
not, or is missing, is a lost update. Packets that the sql module failed go to the disk spool
(the `redundant { sql; mnetifi_spool }` in the site) and are replayed by the
mnetifi_spool_reader server; the script watches the spool directory during the run to count
them and waits for it to drain before checking. The sessions are deleted afterwards, so the
authentication benchmark's device limits see the data set as it was.

    ./deploy/stack.sh up bench && .venv/bin/python bench/radius_acct.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import threading
import time
from collections import Counter

import asyncpg
import dataset
import loadgen
from common import (
    OURS_ROUTER,
    ROOT,
    RUN,
    dsn_of,
    load_env,
    ours_radius_pid,
    postmaster_pid,
    router_secret,
    server_cpu,
)

SPOOL = RUN / "radius" / "radacct" / "spool"
PREFIX = "ab-"  # Acct-Session-Id of this benchmark's sessions
SESSION_ID = re.compile(r'^\s*Acct-Session-Id = "(' + PREFIX + r'[0-9a-f]+)"', re.M)
STATUS = re.compile(r"^\s*Acct-Status-Type = (\S+)", re.M)
SECONDS = re.compile(r"^\s*Acct-Session-Time = (\d+)", re.M)


class SpoolWatcher(threading.Thread):
    """Collects every benchmark packet that passes through the spool directory. The reader
    keeps a file until all of it is written to SQL (seconds), so polling every 20 ms sees
    each entry."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.seen: set[tuple[str, str, str]] = set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.scan()

    def scan(self) -> None:
        for path in SPOOL.glob("detail*"):
            try:
                text = path.read_text(errors="replace")
            except OSError:
                continue  # renamed or removed under us: the next poll sees the new name
            for entry in text.split("\n\n"):
                sid, status = SESSION_ID.search(entry), STATUS.search(entry)
                if sid and status:
                    seconds = SECONDS.search(entry)
                    self.seen.add((sid.group(1), status.group(1), seconds and seconds.group(1)))

    def pending(self) -> bool:
        return any(SPOOL.glob("detail*"))


def counters(k: int, r: int) -> tuple[int, int, int]:
    """Acct-Session-Time, input and output octets of session k's interim r (0-based); every
    tenth session passes 4 GiB so the gigawords count too."""
    extra = (5 << 30) if k % 10 == 0 else 0
    return 60 * (r + 1) + k % 60, (r + 1) * 1_000_003 + k + extra, (r + 1) * 3_000_017 + 7 * k


def packets(
    users: list[dataset.User], secret: bytes, sockets: int, rounds: int
) -> tuple[list[bytes], list[bytes]]:
    """The Starts, then the interims round by round; session k is packet k of each round, so
    with len(users) a multiple of `sockets` it always leaves from socket k % sockets."""
    n = len(users)
    starts = [
        loadgen.hotspot_accounting(
            loadgen.ident_of(k, sockets),
            secret,
            OURS_ROUTER,
            loadgen.START,
            u.code,
            dataset.mac(k, 9),
            f"{PREFIX}{k:06x}",
        )
        for k, u in enumerate(users)
    ]
    interims = []
    for r in range(rounds):
        for k, u in enumerate(users):
            seconds, octets_in, octets_out = counters(k, r)
            interims.append(
                loadgen.hotspot_accounting(
                    loadgen.ident_of(r * n + k, sockets),
                    secret,
                    OURS_ROUTER,
                    loadgen.INTERIM_UPDATE,
                    u.code,
                    dataset.mac(k, 9),
                    f"{PREFIX}{k:06x}",
                    seconds,
                    octets_in,
                    octets_out,
                )
            )
    return starts, interims


async def delete_sessions(dsn: dict) -> int:
    conn = await asyncpg.connect(**dsn)
    try:
        done = await conn.execute("DELETE FROM radacct WHERE acctsessionid LIKE $1", PREFIX + "%")
        return int(done.split()[-1])
    finally:
        await conn.close()


async def verify(dsn: dict, n: int, rounds: int) -> tuple[int, int]:
    """(sessions missing, sessions whose counters are not their last interim's)."""
    conn = await asyncpg.connect(**dsn)
    try:
        await conn.execute(
            "CREATE TEMP TABLE expected (sid text PRIMARY KEY, secs bigint, i bigint, o bigint)"
        )
        await conn.copy_records_to_table(
            "expected",
            records=[(f"{PREFIX}{k:06x}", *counters(k, rounds - 1)) for k in range(n)],
        )
        row = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE a.radacctid IS NULL) AS missing, "
            "       count(*) FILTER (WHERE a.acctsessiontime IS DISTINCT FROM e.secs "
            "                          OR a.acctinputoctets IS DISTINCT FROM e.i "
            "                          OR a.acctoutputoctets IS DISTINCT FROM e.o) AS wrong "
            "  FROM expected e LEFT JOIN radacct a "
            "    ON a.acctsessionid = e.sid AND a.nasipaddress = $1::inet",
            OURS_ROUTER,
        )
        return row["missing"], row["wrong"] - row["missing"]
    finally:
        await conn.close()


def stall(dsn: dict, after: float, seconds: float) -> threading.Thread:
    """Locks radacct against writes for a while, so the sql module times out (statement_timeout)
    and packets take the spool path."""

    async def hold() -> None:
        conn = await asyncpg.connect(**dsn)
        try:
            await asyncio.sleep(after)
            async with conn.transaction():
                await conn.execute("LOCK TABLE radacct IN SHARE ROW EXCLUSIVE MODE")
                await asyncio.sleep(seconds)
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(hold()), daemon=True)
    thread.start()
    return thread


def phase(
    name: str, blaster: loadgen.Blaster, pkts: list[bytes], window: int, pids: tuple[int, int]
) -> None:
    before = server_cpu(*pids)
    run = blaster.run(pkts, window=window)
    cpu = server_cpu(*pids) - before
    acked = run.codes.get(loadgen.ACCOUNTING_RESPONSE, 0)
    print(
        f"{name:<15} {run.per_s:>8.0f} {run.percentile(0.5):>7.2f} {run.percentile(0.99):>7.2f} "
        f"{acked:>7}/{run.sent:<7} {run.lost:>5} {run.retransmits:>5} "
        f"{cpu.radius_s / run.sent * 1e6:>8.0f} {cpu.postgres_s / run.sent * 1e6:>8.0f} "
        f"{run.generator_us:>9.0f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions to open")
    parser.add_argument("--interims", type=int, default=3, help="Interim-Updates per session")
    parser.add_argument("--data-sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--window", type=int, default=8, help="outstanding per socket")
    parser.add_argument("--reload", action="store_true", help="rebuild the data set")
    parser.add_argument(
        "--stall",
        type=float,
        default=0,
        metavar="SECONDS",
        help="lock radacct this long, 1 s into the interims, to drive packets to the spool",
    )
    args = parser.parse_args()
    n = -(-args.sessions // args.sockets) * args.sockets  # a session keeps to one socket

    env = load_env()
    dsn = dsn_of(env)
    secret = router_secret()
    print(f"data set: {args.vouchers:,} vouchers, {args.data_sessions:,} radacct rows ...")
    _, users = asyncio.run(
        dataset.load_ours(dsn, args.vouchers, args.data_sessions, secret, args.reload)
    )
    asyncio.run(delete_sessions(dsn))
    starts, interims = packets(
        random.sample(users, n), secret.encode(), args.sockets, args.interims
    )
    port = int(env["MNETIFI_RADIUS_ACCT_PORT"])
    pids = (ours_radius_pid(), postmaster_pid(dsn["port"]))
    blaster = loadgen.Blaster(("127.0.0.1", port), OURS_ROUTER, secret.encode(), args.sockets)
    watcher = SpoolWatcher()
    watcher.start()
    print(
        f"\n{n:,} sessions, {args.interims} Interim-Updates each; {args.sockets} sockets x "
        f"{args.window} outstanding\n\n{'phase':<15} {'pkts/s':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'acked/sent':>15} {'lost':>5} {'retx':>5} {'radiusd':>8} {'postgres':>8} "
        f"{'generator':>9}  (CPU us per packet)"
    )
    try:
        phase("Accounting-Start", blaster, starts, args.window, pids)
        if args.stall:
            stall(dsn, 1.0, args.stall)
        phase("Interim-Update", blaster, interims, args.window, pids)
        started = time.monotonic()
        while watcher.pending() and time.monotonic() - started < 120:
            time.sleep(0.2)
        watcher.stop.set()
        watcher.join()
        watcher.scan()
        if watcher.pending():
            print("WARNING: the spool has not drained after 120 s")
        missing, wrong = asyncio.run(verify(dsn, n, args.interims))
    finally:
        blaster.close()
        asyncio.run(delete_sessions(dsn))
    spooled = spool_summary(watcher.seen)
    print(
        f"\nchecked in PostgreSQL: {n - missing - wrong:,}/{n:,} sessions hold their last "
        f"interim; lost (missing {missing} + stale counters {wrong}) = {missing + wrong}"
    )
    print(f"through the disk spool: {spooled or 'none'}")
    print(f"\nload generator loadgen; {os.cpu_count()} cores shared by all processes")


def spool_summary(seen: set[tuple[str, str, str]]) -> str:
    kinds = Counter(status for _, status, _ in seen)
    return ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
