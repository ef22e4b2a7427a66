#!/usr/bin/env python3
"""Good-code logins per second while one device guesses codes: does guessing cost the others?

Phase 1 measures returning customers' logins (closed loop, as radius_auth.py) with no guesses.
Phase 2 measures the same while one device (one Calling-Station-Id, on the same router) sends
--guess-rate wrong codes per second, open loop, for the whole phase. After five wrong codes the
device is blocked (migration 0008), so its further guesses are refused in radius_authorize()
without a write; the script checks that in auth_failure. Prints both rates and their ratio
(target >= 0.9x), and exits 1 if a good code was refused or the guesser was never blocked.

Its own small data set (tenant "bench-guess", router 127.78.0.1, --vouchers activated vouchers
with one known device each, no sessions), so it runs on any stack: the bench stack by default,
or another with --run-dir (tests/test_benches.py runs it with --quick on the bench stack).

    ./deploy/stack.sh up bench && .venv/bin/python bench/radius_guess.py
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import dataset
import loadgen
from common import RUN, dsn_of, load_env, postmaster_pid, router_secret, server_cpu

ROUTER = "127.78.0.1"
GUESSER = "02:BA:D0:00:00:01"


async def prepare(dsn: dict, secret: str, vouchers: int) -> list[dataset.User]:
    """Tenant, router and vouchers (rebuilt when the count changed); counters reset."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await conn.fetchval(
            "INSERT INTO tenant (slug, name) VALUES ('bench-guess', 'Bench guessing') "
            "ON CONFLICT (slug) DO UPDATE SET slug = excluded.slug RETURNING id"
        )
        router = await conn.fetchval(
            "INSERT INTO router (tenant_id, name, ip_address, secret) VALUES ($1, 'g', $2, $3) "
            "ON CONFLICT (ip_address) DO UPDATE SET secret = excluded.secret RETURNING id",
            *(tenant, ROUTER, secret),
        )
        await conn.execute("DELETE FROM auth_failure WHERE router_id = $1", router)
        rows = await conn.fetch(
            "SELECT v.code, d.mac FROM voucher v JOIN voucher_device d ON d.voucher_id = v.id "
            "WHERE v.tenant_id = $1",
            tenant,
        )
        if len(rows) == vouchers:
            return [dataset.User(r["code"], "plain", [r["mac"]]) for r in rows]
        await conn.execute("DELETE FROM voucher WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM plan WHERE tenant_id = $1", tenant)
        plan = await conn.fetchval(
            "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, "
            "download_kbps, device_limit) VALUES ($1, 'p', 10, 2592000, 2000, 4000, 1) "
            "RETURNING id",
            tenant,
        )
        users = dataset.make_users(vouchers)
        await conn.copy_records_to_table(
            "voucher",
            columns=["tenant_id", "plan_id", "code", "status", "duration_seconds",
                     "rate_limit", "device_limit"],
            records=[(tenant, plan, u.code, "active", 2592000, "2M/4M", 1) for u in users],
        )  # fmt: skip
        await conn.execute(
            "UPDATE voucher SET first_used_at = now(), expires_at = now() + interval '30 days' "
            "WHERE tenant_id = $1",
            tenant,
        )
        ids = dict(await conn.fetch("SELECT code, id FROM voucher WHERE tenant_id = $1", tenant))
        await conn.copy_records_to_table(
            "voucher_device",
            columns=["voucher_id", "mac", "tenant_id", "router_id"],
            records=[(ids[u.code], u.macs[0], tenant, router) for u in users],
        )
        await conn.execute("ANALYZE voucher, voucher_device")
        return [dataset.User(u.code, "plain", u.macs[:1]) for u in users]
    finally:
        await conn.close()


async def guesser_state(dsn: dict) -> asyncpg.Record | None:
    conn = await asyncpg.connect(**dsn)
    try:
        return await conn.fetchrow(
            "SELECT f.blocks, f.blocked_until > now() AS blocked FROM auth_failure f "
            "JOIN router r ON r.id = f.router_id "
            "WHERE r.ip_address = $1 AND f.calling_station_id = $2",
            *(ROUTER, GUESSER),
        )
    finally:
        await conn.close()


def warm_up(port: str, secret: str) -> None:
    """FreeRADIUS learns a new router from its first packets (dynamic_clients)."""
    for _ in range(30):
        done = subprocess.run(
            [
                "radclient",
                "-q",
                "-r",
                "1",
                "-t",
                "0.5",
                "--",
                f"127.0.0.1:{port}",
                "status",
                secret,
            ],
            input=f"Message-Authenticator = 0x00\nPacket-Src-IP-Address = {ROUTER}\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return
    raise SystemExit(f"FreeRADIUS never learned router {ROUTER}")


def good_logins(users: list[dataset.User], secret: bytes, n: int, sockets: int) -> list[bytes]:
    sample = [users[i % len(users)] for i in range(n)]
    return [
        loadgen.hotspot_login(loadgen.ident_of(i, sockets), secret, ROUTER, u.code, u.macs[0], i)
        for i, u in enumerate(sample)
    ]


def guesses(secret: bytes, n: int, sockets: int) -> list[bytes]:
    codes = ("".join(secrets.choice(dataset.ALPHABET) for _ in range(8)) for _ in range(n))
    return [
        loadgen.hotspot_login(loadgen.ident_of(i, sockets), secret, ROUTER, c, GUESSER, i)
        for i, c in enumerate(codes)
    ]


def saturation(good: loadgen.Blaster, packets: list[bytes], window: int) -> loadgen.Run:
    return good.run(packets, window=window)


def under_guessing(
    good: loadgen.Blaster, bad: loadgen.Blaster, packets: list[bytes], window: int,
    rate: float, seconds: float, secret: bytes,
) -> tuple[loadgen.Run, loadgen.Run]:  # fmt: skip
    """The good logins while the guesser sends `rate` wrong codes per second (open loop, in a
    process of its own: as a thread it took the GIL from the good logins' generator, and the
    drop it caused was the client's, not the server's)."""
    guess_packets = guesses(secret, int(rate * seconds), len(bad.socks))
    receiver, sender = multiprocessing.Pipe(duplex=False)

    def guess() -> None:
        sender.send(bad.run(guess_packets, 256, rate))

    child = multiprocessing.get_context("fork").Process(target=guess)
    child.start()
    run = good.run(packets, window=window)
    guess_run = receiver.recv()
    child.join()
    return run, guess_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=RUN, help="the stack's .run/<stack>")
    parser.add_argument("--vouchers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=20_000, help="good logins per phase")
    parser.add_argument("--guess-rate", type=float, default=500, help="wrong codes/s, one device")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=8, help="outstanding per socket")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.vouchers, args.requests, args.guess_rate, args.rounds = 50, 300, 50, 1

    env = load_env(args.run_dir)
    dsn, secret = dsn_of(env), router_secret(args.run_dir)
    users = asyncio.run(prepare(dsn, secret, args.vouchers))
    port = env["MNETIFI_RADIUS_AUTH_PORT"]
    warm_up(port, secret)
    radius_pid = int((args.run_dir / "radius" / "radiusd.pid").read_text())
    postmaster = postmaster_pid(dsn["port"])
    cpu = {"quiet": 0.0, "noisy": 0.0, "good": 0, "guesses": 0}
    good = loadgen.Blaster(("127.0.0.1", int(port)), ROUTER, secret.encode(), 4)
    bad = loadgen.Blaster(("127.0.0.1", int(port)), ROUTER, secret.encode(), 4)
    key = secret.encode()
    try:
        saturation(good, good_logins(users, key, min(args.requests, 2000), 4), args.window)
        quiet, noisy, blocked = [], [], True
        for i in range(args.rounds):
            asyncio.run(prepare(dsn, secret, args.vouchers))  # a fresh, unblocked guesser
            # Fresh packets per phase: FreeRADIUS answers a repeated packet (same source port,
            # id and authenticator) from its cache for cleanup_delay seconds.
            before = server_cpu(radius_pid, postmaster)
            quiet.append(saturation(good, good_logins(users, key, args.requests, 4), args.window))
            cpu["quiet"] += (server_cpu(radius_pid, postmaster) - before).total_s
            seconds = args.requests / quiet[-1].per_s * 1.5 + 2
            packets = good_logins(users, key, args.requests, 4)
            before = server_cpu(radius_pid, postmaster)
            run, guess_run = under_guessing(
                good, bad, packets, args.window, args.guess_rate, seconds, key
            )
            cpu["noisy"] += (server_cpu(radius_pid, postmaster) - before).total_s
            cpu["good"] += run.sent
            cpu["guesses"] += guess_run.sent
            noisy.append(run)
            state = asyncio.run(guesser_state(dsn))
            blocked &= bool(state and state["blocked"])
            print(
                f"  round {i + 1}: {quiet[-1].per_s:,.0f} auth/s quiet, {run.per_s:,.0f} while "
                f"guessing ({guess_run.codes.get(loadgen.ACCESS_REJECT, 0)}"
                f"/{guess_run.sent} rejected, the guessing client used "
                f"{guess_run.generator_cpu_s / guess_run.elapsed_s:.0%} of a core); "
                f"guesser blocked: {bool(state and state['blocked'])}",
                flush=True,
            )
    finally:
        good.close()
        bad.close()
    q = sorted(quiet, key=lambda r: r.per_s)[len(quiet) // 2]
    n = sorted(noisy, key=lambda r: r.per_s)[len(noisy) // 2]
    refused = sum(r.sent - r.codes.get(loadgen.ACCESS_ACCEPT, 0) for r in quiet + noisy)
    # Server CPU (FreeRADIUS + PostgreSQL) per good login, and what a blocked guess adds: the
    # cost the server pays, without the load generators that share this machine's cores.
    per_good = cpu["quiet"] / max(cpu["good"], 1) * 1e6
    per_guess = (cpu["noisy"] - per_good / 1e6 * cpu["good"]) / max(cpu["guesses"], 1) * 1e6
    print(
        f"\ngood codes, no guesses:           {q.per_s:>7,.0f} auth/s  "
        f"p99 {q.percentile(0.99):.2f} ms"
        f"\ngood codes, {args.guess_rate:,.0f} guesses/s (1 MAC): {n.per_s:>7,.0f} auth/s  "
        f"p99 {n.percentile(0.99):.2f} ms"
        f"\nratio {n.per_s / q.per_s:.2f}x (target >= 0.9x); guessing device blocked: "
        f"{'yes' if blocked else 'NO'}; good logins refused: {refused}"
        f"\nserver CPU (FreeRADIUS + PostgreSQL): {per_good:.0f} µs per good login, "
        f"{per_guess:.0f} µs per guess; at the server's own capacity {args.guess_rate:,.0f} "
        f"guesses/s leave {1 - args.guess_rate * per_guess / max(q.per_s * per_good, 1):.2f}x"
        f"\n{args.vouchers:,} vouchers, {args.requests:,} logins per phase, median of "
        f"{args.rounds}; {os.cpu_count()} cores shared by all processes"
    )
    return 0 if blocked and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
