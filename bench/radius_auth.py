#!/usr/bin/env python3
"""Authentication throughput and latency: mnetifi's FreeRADIUS vs a stock FreeRADIUS + SQL.

Both servers run from the same Debian FreeRADIUS 3.2 binary, the same PostgreSQL cluster, the
same thread and connection pools, on this machine. They differ only in schema and queries:

  mnetifi   radius_authorize() (one round trip) + radius_post_auth() (one round trip)
  baseline  the package's stock schema.sql and queries.conf: radcheck + radusergroup +
            radgroupcheck + radgroupreply + radreply lookups, then a radpostauth insert

Each loads --vouchers codes (default 100,000). The load is radclient (parallel, PAP, MikroTik
attributes) sending --requests random codes; at the same time a probe sends one request at a
time and records its latency (what a router sees under load). Rounds alternate between the
servers; the median round is reported.

    deploy/stack.sh up bench && .venv/bin/python bench/radius_auth.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pyrad import packet
from pyrad.client import Client
from pyrad.dictionary import Dictionary
from sqlalchemy.engine import make_url

from radius.render import SOURCE, render, render_text

ROOT = Path(__file__).resolve().parent.parent
STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
OURS_ROUTER, BASE_ROUTER = "127.77.0.1", "127.77.0.2"
BASELINE_PORT = 32812


@dataclass
class Round:
    name: str
    auth_per_s: float
    p50_ms: float
    p99_ms: float
    accepted: int
    sent: int
    server_cpu_us: float  # FreeRADIUS + PostgreSQL CPU time per request


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def server_cpu_seconds(radius_pid: int, postmaster_pid: int) -> float:
    """CPU used so far by one FreeRADIUS process and the whole PostgreSQL cluster (postmaster
    and its backends), so the load generator's own CPU is left out of the comparison."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        if pid in (radius_pid, postmaster_pid) or ppid == postmaster_pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def postmaster_pid(env: dict[str, str]) -> int:
    """The bench cluster's postmaster: the process listening with our port on its command line."""
    port = str(make_url(env["MNETIFI_DATABASE_URL"]).port)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline").read().split("\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith("postgres") and port in cmd and "-p" in cmd:
                return int(entry)
    raise SystemExit("cannot find the bench PostgreSQL postmaster")


def load_env() -> dict[str, str]:
    env_file = ROOT / ".run" / "bench" / "env"
    if not env_file.exists():
        raise SystemExit("start the bench stack first: deploy/stack.sh up bench")
    env = {}
    for line in env_file.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


def make_codes(n: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < n:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(8)))
    return sorted(codes)


async def load_ours(dsn: dict, codes: list[str], secret: str) -> None:
    conn = await asyncpg.connect(**dsn)
    try:
        # The tenant and router stay between runs (a running FreeRADIUS keeps a router's secret
        # in memory); the vouchers are loaded afresh.
        tenant = await conn.fetchval(
            "INSERT INTO tenant (slug, name) VALUES ('bench', 'Bench ISP') "
            "ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING id"
        )
        await conn.execute("DELETE FROM voucher WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM plan WHERE tenant_id = $1", tenant)
        await conn.execute(
            "INSERT INTO router (tenant_id, name, ip_address, secret) VALUES ($1, 'r', $2, $3) "
            "ON CONFLICT (ip_address) DO UPDATE SET secret = excluded.secret",
            tenant,
            OURS_ROUTER,
            secret,
        )
        plan = await conn.fetchval(
            "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, "
            "download_kbps) "
            "VALUES ($1, 'Day', 50, 86400, 2000, 4000) RETURNING id",
            tenant,
        )
        # Returning customers: vouchers already activated (the steady state of a hotspot).
        await conn.copy_records_to_table(
            "voucher",
            columns=[
                "tenant_id",
                "plan_id",
                "code",
                "status",
                "duration_seconds",
                "rate_limit",
                "device_limit",
                "first_used_at",
                "expires_at",
            ],
            records=[(tenant, plan, c, "active", 86400, "2M/4M", 1, None, None) for c in codes],
        )
        await conn.execute(
            "UPDATE voucher SET first_used_at = now(), expires_at = now() + interval '1 day' "
            "WHERE tenant_id = $1",
            tenant,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def load_baseline(dsn: dict, codes: list[str]) -> None:
    admin = await asyncpg.connect(**(dsn | {"database": "postgres"}))
    await admin.execute("DROP DATABASE IF EXISTS mnetifi_stock WITH (FORCE)")
    await admin.execute("CREATE DATABASE mnetifi_stock")
    await admin.close()
    conn = await asyncpg.connect(**(dsn | {"database": "mnetifi_stock"}))
    try:
        await conn.execute(STOCK_SCHEMA.read_text())  # noqa: ASYNC240 (a script, one file)
        await conn.copy_records_to_table(
            "radcheck",
            columns=["username", "attribute", "op", "value"],
            records=[(c, "Cleartext-Password", ":=", c) for c in codes],
        )
        await conn.copy_records_to_table(
            "radusergroup",
            columns=["username", "groupname", "priority"],
            records=[(c, "day", 1) for c in codes],
        )
        await conn.executemany(
            "INSERT INTO radgroupreply (groupname, attribute, op, value) "
            "VALUES ('day', $1, ':=', $2)",
            [
                ("Mikrotik-Rate-Limit", "2M/4M"),
                ("Session-Timeout", "86400"),
                ("Acct-Interim-Interval", "300"),
            ],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def start_baseline(env: dict, dsn: dict, secret: str) -> tuple[Path, subprocess.Popen]:
    run = ROOT / ".run" / "bench" / "baseline"
    raddb = run / "raddb"
    shutil.rmtree(run, ignore_errors=True)
    (run / "log").mkdir(parents=True)
    values = {
        "RUN_DIR": str(run),
        "DB_PORT": str(dsn["port"]),
        "DB_USER": dsn["user"],
        "DB_PASSWORD": dsn["password"],
        "DB_NAME": "mnetifi_stock",
        "AUTH_PORT": str(BASELINE_PORT),
        "ACCT_PORT": "32813",
        "STATUS_SECRET": "x",
        "ROUTER_IP": BASE_ROUTER,
        "ROUTER_SECRET": secret,
    }
    # Our minimal radiusd.conf and the helper modules (pap, chap, expr), nothing of our policy.
    render(raddb, values, SOURCE)
    for name in [
        "sites-enabled",
        "policy.d",
        "mods-enabled/sql",
        "mods-enabled/mnetifi_authorize",
        "clients.conf",
        "mods-config",
    ]:
        target = raddb / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    (raddb / "policy.d").mkdir()
    baseline_src = ROOT / "bench" / "baseline"
    for path in baseline_src.rglob("*"):
        if path.is_file():
            target = raddb / path.relative_to(baseline_src)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_text(path.read_text(), values, path.name))
    proc = subprocess.Popen(
        ["freeradius", "-f", "-d", str(raddb)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(2)
    if proc.poll() is not None:
        raise SystemExit(f"baseline FreeRADIUS did not start: freeradius -XC -d {raddb}")
    return raddb, proc


def request_file(codes: list[str], n: int, src: str) -> Path:
    lines = []
    for code in random.choices(codes, k=n):
        lines.append(
            f'User-Name = "{code}"\nUser-Password = "{code}"\n'
            f'Calling-Station-Id = "AA:BB:CC:{random.randrange(256):02X}:00:01"\n'
            f'NAS-Identifier = "MikroTik"\nCalled-Station-Id = "hotspot1"\n'
            f"Packet-Src-IP-Address = {src}\n"
        )
    handle = tempfile.NamedTemporaryFile("w", suffix=".radclient", delete=False)
    handle.write("\n".join(lines))
    handle.close()
    return Path(handle.name)


def probe(port: int, src: str, secret: str, codes: list[str], stop: threading.Event) -> list[float]:
    client = Client(
        server="127.0.0.1",
        authport=port,
        secret=secret.encode(),
        dict=Dictionary(str(ROOT / "radius" / "dictionary")),
        timeout=2,
        retries=1,
    )
    client.bind((src, 0))
    latencies = []
    while not stop.is_set():
        code = random.choice(codes)
        req = client.CreateAuthPacket(code=packet.AccessRequest, User_Name=code)
        req["User-Password"] = req.PwCrypt(code)
        started = time.perf_counter()
        reply = client.SendPacket(req)
        latencies.append((time.perf_counter() - started) * 1000)
        if reply.code != packet.AccessAccept:
            raise SystemExit(f"probe got {reply.code} for {code} on port {port}")
        time.sleep(0.002)
    return latencies


def run_round(
    name: str,
    port: int,
    src: str,
    secret: str,
    codes: list[str],
    n: int,
    parallel: int,
    pids: tuple[int, int],
) -> Round:
    requests = request_file(codes, n, src)
    cpu_before = server_cpu_seconds(*pids)
    stop = threading.Event()
    result: list[list[float]] = []
    thread = threading.Thread(target=lambda: result.append(probe(port, src, secret, codes, stop)))
    thread.start()
    started = time.perf_counter()
    out = subprocess.run(
        [
            "radclient",
            "-q",
            "-s",
            "-p",
            str(parallel),
            "-r",
            "3",
            "-t",
            "2",
            "-f",
            str(requests),
            f"127.0.0.1:{port}",
            "auth",
            secret,
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    cpu = server_cpu_seconds(*pids) - cpu_before
    requests.unlink()
    accepted = int(re.search(r"Accepted\s*:\s*(\d+)", out).group(1))
    latencies = sorted(result[0])
    return Round(
        name,
        n / elapsed,
        statistics.median(latencies),
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        accepted,
        n,
        cpu / (n + len(latencies)) * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--parallel", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    env = load_env()
    url = make_url(env["MNETIFI_DATABASE_URL"])
    dsn = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }
    secret_file = ROOT / ".run" / "bench" / "secrets" / "bench-router-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(18))
    secret = secret_file.read_text()
    codes = make_codes(args.vouchers)
    print(f"loading {len(codes):,} vouchers into each schema ...", flush=True)
    asyncio.run(load_ours(dsn, codes, secret))
    asyncio.run(load_baseline(dsn, codes))
    _, baseline = start_baseline(env, dsn, secret)
    ours_port = int(env["MNETIFI_RADIUS_AUTH_PORT"])
    pg = postmaster_pid(env)
    ours_pid = int((ROOT / ".run" / "bench" / "radius" / "radiusd.pid").read_text())
    targets = {
        "mnetifi": (ours_port, OURS_ROUTER, (ours_pid, pg)),
        "baseline": (BASELINE_PORT, BASE_ROUTER, (baseline.pid, pg)),
    }
    try:
        for port, src, pids in targets.values():  # warm-up
            run_round("warm-up", port, src, secret, codes, 2000, args.parallel, pids)
        rounds: dict[str, list[Round]] = {"mnetifi": [], "baseline": []}
        for _ in range(args.rounds):
            for name, (port, src, pids) in targets.items():
                rounds[name].append(
                    run_round(name, port, src, secret, codes, args.requests, args.parallel, pids)
                )
    finally:
        baseline.terminate()
        baseline.wait()

    print(
        f"\n{args.requests:,} Access-Requests per round, radclient -p {args.parallel}, "
        f"{args.rounds} rounds, median round shown; latency from a probe under that load\n"
    )
    print(
        f"{'server':<10} {'auth/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server CPU us/auth':>19} "
        f"{'accepted':>12}"
    )
    medians = {}
    for name, rs in rounds.items():
        m = sorted(rs, key=lambda r: r.auth_per_s)[len(rs) // 2]
        medians[name] = m
        print(
            f"{name:<10} {m.auth_per_s:>9.0f} {m.p50_ms:>8.2f} {m.p99_ms:>8.2f} "
            f"{m.server_cpu_us:>19.0f} {m.accepted:>6}/{m.sent}"
        )
    ours, base = medians["mnetifi"], medians["baseline"]
    print(
        f"\nratio mnetifi/baseline: auth/s {ours.auth_per_s / base.auth_per_s:.2f}x, "
        f"server CPU per auth {base.server_cpu_us / ours.server_cpu_us:.2f}x less"
    )
    print(
        f"load generator: radclient on the same {os.cpu_count()} cores; auth/s is bounded by it too"
    )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
