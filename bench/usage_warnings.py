#!/usr/bin/env python3
"""What usage warnings (issue 15) cost accounting, and how soon a warning reaches the SMS gateway.

1. Throughput. radius_acct.py's load (Starts, then --interims rounds of Interim-Update for
   --sessions sessions of the bench data set, half of whose vouchers have a time or data quota,
   so their interims are watched: voucher_usage_check() sums their sessions) is run in
   alternating rounds with the bench ISP's warnings off (usage_warning_percent = 0: the check
   ends at its first comparison) and on (90). Prints Interim-Update packets/s of each round, the
   medians, on/off (target >= 0.95) and the sessions lost (must be 0: every row holds its last
   interim).
2. Latency. --latency vouchers get a phone and a data quota their first interim fills to 93%,
   crossing 90%; the stack's worker turns each notification into an SMS to the fake AT. Twice:
   every crossing interim at once (the worst burst: the figure is then the time to drain the
   queue on these 2 cores, shared with the fake gateway and the API taking its delivery
   reports), and --paced crossings a second (100: a thousand customers crossing within ten
   seconds, still far above what an ISP's accounting brings).
   Prints p50/p99 of notification decided (inside the interim's transaction) -> SMS accepted
   by the gateway (message.sent_at), target p99 < 5 s, and checks one SMS per voucher. The bench
   ISP's sending rate is lifted to 60,000 a minute for this part (its default, 600, paces a
   burst over minutes by design).

The vouchers' quotas and phones are put back, and the benchmark's notifications, messages and
sessions deleted, afterwards.

    ./deploy/stack.sh up bench && .venv/bin/python bench/usage_warnings.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time

import asyncpg
import dataset
import loadgen
import radius_acct
from common import OURS_ROUTER, ROOT, dsn_of, load_env, router_secret

PHONE_BASE = 254_790_000_000  # the bench's customers: +25479xxxxxxx, one per voucher


async def _tenant(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT id FROM tenant WHERE slug = 'bench'")


async def set_warnings(dsn: dict, percent: int) -> None:
    conn = await asyncpg.connect(**dsn)
    try:
        await conn.execute(
            "UPDATE tenant SET usage_warning_percent = $1 WHERE slug = 'bench'", percent
        )
    finally:
        await conn.close()


async def clean(dsn: dict, codes: list[str]) -> None:
    """The benchmark's notifications and messages gone; its vouchers as the data set has them."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await _tenant(conn)
        await conn.execute("DELETE FROM notification WHERE tenant_id = $1", tenant)
        await conn.execute(
            "DELETE FROM message WHERE tenant_id = $1 AND purpose = 'usage-warning'", tenant
        )
        await conn.execute(
            "UPDATE voucher v SET data_quota_bytes = p.data_quota_bytes, phone = NULL, "
            "       warned_data_quota = NULL, warned_time_quota = NULL "
            "  FROM plan p WHERE p.id = v.plan_id AND v.tenant_id = $1 AND v.code = ANY($2)",
            tenant, codes,
        )  # fmt: skip
        await conn.execute(
            "UPDATE tenant SET usage_warning_percent = 90, message_rate_per_minute = DEFAULT "
            "WHERE id = $1", tenant,
        )  # fmt: skip
    finally:
        await conn.close()
    await radius_acct.delete_sessions(dsn)


def throughput_round(
    server: tuple[str, int], users: list[dataset.User], secret: bytes, args: argparse.Namespace,
    dsn: dict,
) -> tuple[float, int]:  # fmt: skip
    """(Interim-Update packets/s, sessions lost) of one round on fresh sessions. Fresh sockets
    too: the same packets from the same ports would be answered from FreeRADIUS's duplicate
    cache, never reaching SQL."""
    asyncio.run(radius_acct.delete_sessions(dsn))
    starts, interims = radius_acct.packets(users, secret, args.sockets, args.interims)
    blaster = loadgen.Blaster(server, OURS_ROUTER, secret, args.sockets)
    try:
        blaster.run(starts, window=args.window)
        run = blaster.run(interims, window=args.window)
    finally:
        blaster.close()
    missing, wrong = asyncio.run(radius_acct.verify(dsn, len(users), args.interims))
    return run.per_s, missing + wrong + run.lost


async def prepare_latency(dsn: dict, users: list[dataset.User]) -> None:
    """Each voucher's data quota set so that its first interim uses 93% of it: warned, not used
    up (a used-up voucher's sessions would be disconnected, a load of its own)."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await _tenant(conn)
        rows = []
        for k, u in enumerate(users):
            _, octets_in, octets_out = radius_acct.counters(k, 0)
            quota = (octets_in + octets_out) * 100 // 93
            rows.append((tenant, u.code, str(PHONE_BASE + k), quota))
        # The ISP's sending rate (600 a minute by default) would spread 1,000 SMS over two
        # minutes by design; what is measured here is how fast the path is, so it is lifted.
        await conn.execute(
            "UPDATE tenant SET message_rate_per_minute = 60000 WHERE id = $1", tenant
        )
        await conn.executemany(
            "UPDATE voucher SET data_quota_bytes = $4, phone = $3, warned_data_quota = NULL "
            "WHERE tenant_id = $1 AND code = $2",
            rows,
        )
    finally:
        await conn.close()


async def latencies(dsn: dict, count: int, wait: float) -> tuple[list[float], int, int]:
    """(seconds from decision to gateway per message, notifications, messages) once every
    notification's SMS was accepted or `wait` has passed."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await _tenant(conn)
        deadline = time.monotonic() + wait
        while True:
            rows = await conn.fetch(
                "SELECT extract(epoch FROM m.sent_at - n.created_at) AS s "
                "  FROM notification n JOIN message m "
                "    ON m.idempotency_key = n.tenant_id || ':notification:' || n.id || ':sms' "
                " WHERE n.tenant_id = $1 AND m.sent_at IS NOT NULL",
                tenant,
            )
            if len(rows) >= count or time.monotonic() > deadline:
                notes = await conn.fetchval(
                    "SELECT count(*) FROM notification WHERE tenant_id = $1", tenant
                )
                messages = await conn.fetchval(
                    "SELECT count(*) FROM message WHERE tenant_id = $1 "
                    "AND purpose = 'usage-warning'", tenant,
                )  # fmt: skip
                return [float(r["s"]) for r in rows], notes, messages
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


def latency_run(
    server: tuple[str, int], crossing: list[dataset.User], secret: str,
    args: argparse.Namespace, dsn: dict, codes: list[str], rate: float | None,
) -> int:  # fmt: skip
    """One latency run: every crossing interim at once (rate None: the worst burst, all decided
    within a fraction of a second) or `rate` crossings a second. Prints p50/p99; returns how many
    vouchers did not get exactly one warning."""
    asyncio.run(clean(dsn, codes))
    asyncio.run(radius_acct.delete_sessions(dsn))
    asyncio.run(prepare_latency(dsn, crossing))
    starts, interims = radius_acct.packets(crossing, secret.encode(), args.sockets, 1)
    blaster = loadgen.Blaster(server, OURS_ROUTER, secret.encode(), args.sockets)
    try:
        blaster.run(starts, window=args.window)
        blaster.run(interims, window=args.window, rate=rate)
    finally:
        blaster.close()
    seconds, notes, messages = asyncio.run(latencies(dsn, len(crossing), args.wait))
    seconds.sort()
    how = "all at once" if rate is None else f"{rate:g} crossings/s"
    if seconds:
        p50 = seconds[len(seconds) // 2]
        p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
        print(f"{how:>20}: decided -> accepted by the SMS gateway: p50 {p50:.2f} s, "
              f"p99 {p99:.2f} s (target p99 < 5 s)")  # fmt: skip
    print(f"{'':>20}  notifications: {notes:,}; SMS: {messages:,}; accepted: {len(seconds):,} "
          f"(want one each: {len(crossing):,})")  # fmt: skip
    return 0 if notes == messages == len(seconds) == len(crossing) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--data-sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions per round")
    parser.add_argument("--interims", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (off, on)")
    parser.add_argument("--latency", type=int, default=1_000, help="vouchers crossing 90%%")
    parser.add_argument("--paced", type=float, default=100,
                        help="crossings a second in the second latency run")  # fmt: skip
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--wait", type=float, default=60, help="seconds for the messages")
    parser.add_argument("--keep", action="store_true", help="leave the rows for a look")
    args = parser.parse_args()

    env = load_env()
    dsn = dsn_of(env)
    secret = router_secret()
    print(f"data set: {args.vouchers:,} vouchers, {args.data_sessions:,} radacct rows ...")
    _, users = asyncio.run(dataset.load_ours(dsn, args.vouchers, args.data_sessions, secret, False))
    n = -(-args.sessions // args.sockets) * args.sockets
    chosen = random.sample(users, n + args.latency)
    load, crossing = chosen[:n], chosen[n:]
    watched = sum(1 for u in load if u.kind != "plain")
    server = ("127.0.0.1", int(env["MNETIFI_RADIUS_ACCT_PORT"]))
    codes = [u.code for u in chosen]
    try:
        asyncio.run(clean(dsn, codes))
        print(f"\n1. {n:,} sessions ({watched:,} with a quota, watched), {args.interims} "
              f"Interim-Updates each, warnings off and on in alternating rounds\n")  # fmt: skip
        print(f"{'round':<8} {'off pkts/s':>11} {'on pkts/s':>11} {'lost':>6}")
        off, on, lost = [], [], 0
        for r in range(args.rounds):
            asyncio.run(set_warnings(dsn, 0))
            rate_off, lost_off = throughput_round(server, load, secret.encode(), args, dsn)
            asyncio.run(set_warnings(dsn, 90))
            rate_on, lost_on = throughput_round(server, load, secret.encode(), args, dsn)
            off.append(rate_off)
            on.append(rate_on)
            lost += lost_off + lost_on
            print(f"{r + 1:<8} {rate_off:>11.0f} {rate_on:>11.0f} {lost_off + lost_on:>6}")
        ratio = statistics.median(on) / statistics.median(off)
        print(f"{'median':<8} {statistics.median(off):>11.0f} {statistics.median(on):>11.0f}")
        print(f"\nwarnings on / off: {ratio:.2f}x (target >= 0.95); sessions lost: {lost}")
        asyncio.run(radius_acct.delete_sessions(dsn))

        print(f"\n2. {len(crossing):,} vouchers whose first interim crosses 90% of their quota")
        wrong = 0
        for rate in (None, args.paced):
            wrong += latency_run(server, crossing, secret, args, dsn, codes, rate)
        if lost or wrong:
            raise SystemExit("FAILED: lost sessions, or not exactly one warning per voucher")
    finally:
        if not args.keep:
            asyncio.run(clean(dsn, codes))
    print(f"\nload generator loadgen; {os.cpu_count()} cores shared by all processes")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
