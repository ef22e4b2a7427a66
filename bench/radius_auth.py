#!/usr/bin/env python3
"""Authentication throughput and latency: mnetifi's FreeRADIUS vs a stock FreeRADIUS + SQL.

Both servers run from the same Debian FreeRADIUS 3.2 binary, the same PostgreSQL cluster, the
same thread and connection pools, on this machine. They differ only in schema and queries:

  mnetifi   radius_authorize() (router, voucher, quotas, device limit: one round trip);
            radius_post_auth() only for first logins, new devices and rejects
  baseline  the package's stock schema.sql and queries.conf: radcheck + radusergroup +
            radgroupcheck + radgroupreply + radreply lookups, then a radpostauth insert
  mnetifi-mix  mnetifi's server again, half the requests PPPoE subscribers' MS-CHAPv2 logins
            (--subscribers of them; the password decrypted in radius_authorize(), the
            NT-Response checked by rlm_mschap), half voucher logins as above: the PPPoE mix
            against voucher-only in the same run (target: at least 0.9x)

Both databases hold the full-policy data set of bench/dataset.py (--vouchers vouchers and
--sessions radacct rows each). Every request is a returning customer's PAP login from one of
their known devices, so every mnetifi request must be accepted (the script says if not).

The load comes from bench/loadgen.py (pre-built packets, a few UDP sockets), in two modes:

  saturation  closed loop, --sockets x --window requests outstanding: the most auth/s the
              server gives; latency there is mostly queueing (outstanding / throughput)
  fixed rate  open loop at --rate requests/s for --seconds: the latency a router sees at
              that offered load (flagged OVERLOADED when the server cannot keep up: then
              its socket overflows and latency is the routers' retries)

--generator radclient drives the saturation runs with radclient instead, to cross-check
(it costs ~300 us of CPU per request here, against loadgen's ~20).

After a warm-up, each of --rounds rounds runs every server at saturation, the servers taking
turns every --requests/--slices logins (a slow spell of the host falls on all of them alike),
then each at the fixed rate; the median round is shown, and each round's own ratios.
CPU per auth is read from /proc: FreeRADIUS, the PostgreSQL cluster, this generator, and what
other processes on the machine used meanwhile (a noisy neighbour shows up there).

    ./deploy/stack.sh up bench && .venv/bin/python bench/radius_auth.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dataset
import loadgen
from auth_report import Result, report
from common import (
    BASE_ROUTER,
    OURS_ROUTER,
    ROOT,
    RUN,
    Cpu,
    dsn_of,
    load_env,
    ours_radius_pid,
    ours_threads,
    postmaster_pid,
    router_secret,
    server_cpu,
)

from radius.render import DEFAULTS, SOURCE, render, render_text

BASELINE_PORT = 32812


@dataclass
class Target:
    name: str
    port: int
    router: str
    radius_pid: int
    # PPPoE subscribers (username, password) whose MS-CHAPv2 logins make every other request
    subscribers: list[tuple[str, str]] | None = None


def start_baseline(dsn: dict, secret: str, port: int = BASELINE_PORT) -> subprocess.Popen:
    run = RUN / "baseline"
    raddb = run / "raddb"
    shutil.rmtree(run, ignore_errors=True)
    (run / "log").mkdir(parents=True)
    values = {
        "RUN_DIR": str(run),
        "DB_PORT": str(dsn["port"]),
        "DB_USER": dsn["user"],
        "DB_PASSWORD": dsn["password"],
        "DB_NAME": dataset.STOCK_DB,
        "AUTH_PORT": str(port),
        "ACCT_PORT": str(port + 1),
        "STATUS_SECRET": "x",
        "RADIUS_PASSWORD_KEY": "",  # its queries are replaced below
        "ROUTER_IP": BASE_ROUTER,
        "ROUTER_SECRET": secret,
        "THREADS": ours_threads(),
    }
    # Our minimal radiusd.conf and the helper modules (pap, chap, expr), nothing of our policy.
    render(raddb, values, SOURCE)
    for name in [
        "sites-enabled",
        "policy.d",
        "mods-enabled/sql",
        "mods-enabled/mnetifi_authorize",
        "mods-enabled/mnetifi_spool",
        "mods-enabled/mschap",
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
            target.write_text(render_text(path.read_text(), DEFAULTS | values, path.name))
    # A session of its own, as the stack's daemon has: with the kernel's autogroup scheduling,
    # a server in this script's session would share one CPU share with the load generator.
    proc = subprocess.Popen(
        ["freeradius", "-f", "-d", str(raddb)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(2)
    if proc.poll() is not None:
        raise SystemExit(f"baseline FreeRADIUS did not start: freeradius -XC -d {raddb}")
    return proc


def machine_busy_s() -> float:
    """CPU time all processes have used so far (the first line of /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def login_packets(
    users: list[dataset.User], router: str, secret: bytes, sockets: int,
    subscribers: list[tuple[str, str]] | None = None,
) -> list:  # fmt: skip
    """Voucher logins; with `subscribers`, every other one a subscriber's MS-CHAPv2 login."""
    packets = []
    for i, u in enumerate(users):
        ident = loadgen.ident_of(i, sockets)
        if subscribers and i % 2:
            name, password = random.choice(subscribers)
            packets.append(loadgen.pppoe_mschap2_login(ident, secret, router, name, password, i))
        else:
            packets.append(loadgen.hotspot_login(ident, secret, router, u.code, u.macs[0], i))
    return packets


def radclient_run(
    target: Target, users: list[dataset.User], secret: str, parallel: int
) -> loadgen.Run:
    """The same logins through radclient, for cross-checking the generator (saturation only)."""
    with tempfile.NamedTemporaryFile("w", suffix=".radclient", delete=False) as handle:
        for u in users:
            handle.write(
                f'User-Name = "{u.code}"\nUser-Password = "{u.code}"\n'
                f'Calling-Station-Id = "{u.macs[0]}"\nCalled-Station-Id = "hotspot1"\n'
                f'NAS-Identifier = "MikroTik"\nMessage-Authenticator = 0x00\n'
                f"Packet-Src-IP-Address = {target.router}\n\n"
            )
    cpu = os.times()
    started = time.perf_counter()
    out = subprocess.run(
        ["radclient", "-q", "-s", "-p", str(parallel), "-r", "3", "-t", "2", "-f", handle.name]
        + [f"127.0.0.1:{target.port}", "auth", secret],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    elapsed = time.perf_counter() - started
    Path(handle.name).unlink()
    after = os.times()
    accepted = int(re.search(r"Accepted\s*:\s*(\d+)", out).group(1))
    rejected = int(re.search(r"Rejected\s*:\s*(\d+)", out).group(1))
    run = loadgen.Run(len(users), elapsed, [], Counter({2: accepted, 3: rejected}))
    run.lost = len(users) - accepted - rejected
    run.generator_cpu_s = after.children_user + after.children_system
    run.generator_cpu_s -= cpu.children_user + cpu.children_system
    return run


def measure(
    target: Target, postmaster: int, go: Callable[[], loadgen.Run]
) -> tuple[loadgen.Run, Cpu, float]:
    cpu_before, busy_before = server_cpu(target.radius_pid, postmaster), machine_busy_s()
    run = go()
    cpu = server_cpu(target.radius_pid, postmaster) - cpu_before
    other = machine_busy_s() - busy_before - cpu.total_s - run.generator_cpu_s
    return run, cpu, max(other, 0.0)


def one_round(
    target: Target,
    blaster: loadgen.Blaster,
    users: list[dataset.User],
    args: argparse.Namespace,
    secret: bytes,
    postmaster: int,
    fixed: bool = True,
) -> list[Result]:
    """One target's saturation run and (if fixed) its fixed-rate run, of fresh random logins."""
    blasters = {target.name: blaster}
    results = saturation_round([target], blasters, users, args, secret, postmaster)
    if fixed:
        results.append(fixed_rate(target, blaster, users, args, secret, postmaster))
    return results


def fixed_rate(
    target: Target,
    blaster: loadgen.Blaster,
    users: list[dataset.User],
    args: argparse.Namespace,
    secret: bytes,
    postmaster: int,
) -> Result:
    """--rate logins a second for --seconds, open loop, whatever the server answers."""
    sample = random.choices(users, k=int(args.rate * args.seconds))
    packets = login_packets(sample, target.router, secret, args.sockets, target.subscribers)
    go = partial(blaster.run, packets, window=256, rate=args.rate)
    return Result(target.name, "fixed", *measure(target, postmaster, go))


def saturation_round(
    targets: list[Target],
    blasters: dict[str, loadgen.Blaster],
    users: list[dataset.User],
    args: argparse.Namespace,
    secret: bytes,
    postmaster: int,
) -> list[Result]:
    """Every target's saturation run of --requests fresh logins, cut into --slices slices that
    take turns (A B C, C B A, A B C, ...); each target's slices add up to its run.

    The host's speed drifts over seconds (the VM's neighbours, the stack's own worker and
    autovacuum). Whole runs one after another give a slow spell to whichever target ran then:
    a round's ratios spread 0.71-1.13 that way. Turns of a fraction of a second share it out."""
    per_slice = max(1, args.requests // args.slices)
    parts: dict[str, list[tuple[loadgen.Run, Cpu, float]]] = {t.name: [] for t in targets}
    for i in range(args.slices):
        for t in targets if i % 2 == 0 else targets[::-1]:
            sample = random.choices(users, k=per_slice)
            if args.generator == "radclient":
                parallel = args.sockets * args.window
                go = partial(radclient_run, t, sample, secret.decode(), parallel)
            else:
                packets = login_packets(sample, t.router, secret, args.sockets, t.subscribers)
                go = partial(blasters[t.name].run, packets, window=args.window)
            parts[t.name].append(measure(t, postmaster, go))
    return [
        Result(
            t.name,
            "saturation",
            loadgen.Run.joined([run for run, _, _ in parts[t.name]]),
            sum((cpu for _, cpu, _ in parts[t.name]), Cpu(0, 0)),
            sum(other for _, _, other in parts[t.name]),
            [run.per_s for run, _, _ in parts[t.name]],
        )
        for t in targets
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--requests", type=int, default=20_000, help="per saturation round")
    parser.add_argument("--rate", type=float, default=2000, help="fixed-rate load, auth/s")
    parser.add_argument("--seconds", type=float, default=5, help="fixed-rate round length")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=10,
                        help="turns the servers take within a round's saturation runs")  # fmt: skip
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--window", type=int, default=8, help="outstanding per socket")
    parser.add_argument("--generator", choices=["loadgen", "radclient"], default="loadgen")
    parser.add_argument("--only", choices=["mnetifi", "mnetifi-mix", "baseline"],
                        help="drive one target")  # fmt: skip
    parser.add_argument("--subscribers", type=int, default=5000, help="PPPoE subscribers (mix)")
    parser.add_argument("--baseline-port", type=int, default=BASELINE_PORT,
                        help="the stock server's auth port (acct: the next one)")  # fmt: skip
    parser.add_argument("--reload", action="store_true", help="rebuild the data set")
    args = parser.parse_args()

    env = load_env()
    dsn = dsn_of(env)
    secret = router_secret()
    started = time.perf_counter()
    print(f"data set: {args.vouchers:,} vouchers, {args.sessions:,} radacct rows each ...")
    label, users = asyncio.run(
        dataset.load_ours(dsn, args.vouchers, args.sessions, secret, args.reload)
    )
    asyncio.run(dataset.load_stock(dsn, users, args.sessions, label))
    key = bytes.fromhex(env["MNETIFI_RADIUS_PASSWORD_KEY"])
    subscribers = asyncio.run(dataset.load_subscribers(dsn, args.subscribers, key))
    print(f"  ready in {time.perf_counter() - started:.0f} s ({label})", flush=True)
    baseline = start_baseline(dsn, secret, args.baseline_port)
    postmaster = postmaster_pid(dsn["port"])
    # In this order the mix's turns come right after or right before voucher-only's.
    targets = [
        Target("mnetifi", int(env["MNETIFI_RADIUS_AUTH_PORT"]), OURS_ROUTER, ours_radius_pid()),
        Target(
            "mnetifi-mix",
            int(env["MNETIFI_RADIUS_AUTH_PORT"]),
            OURS_ROUTER,
            ours_radius_pid(),
            subscribers,
        ),  # fmt: skip
        Target("baseline", args.baseline_port, BASE_ROUTER, baseline.pid),
    ]
    if args.only:
        targets = [t for t in targets if t.name == args.only]
    if args.generator == "radclient":  # it sends voucher logins only (radclient_run())
        targets = [t for t in targets if not t.subscribers]
    blasters = {
        t.name: loadgen.Blaster(("127.0.0.1", t.port), t.router, secret.encode(), args.sockets)
        for t in targets
    }
    results: list[Result] = []
    try:
        for t in targets:  # warm-up: caches, connections, plans
            one_round(t, blasters[t.name], users, args, secret.encode(), postmaster, False)
        for i in range(args.rounds):
            print(f"  round {i + 1}", flush=True)
            order = targets if i % 2 == 0 else targets[::-1]
            results += saturation_round(order, blasters, users, args, secret.encode(), postmaster)
            for t in order:
                results.append(
                    fixed_rate(t, blasters[t.name], users, args, secret.encode(), postmaster)
                )
    finally:
        baseline.terminate()
        baseline.wait()
        for b in blasters.values():
            b.close()
    report(results, args)
    print(
        f"\nload generator {args.generator}; {os.cpu_count()} cores shared by all processes; "
        f"{ours_threads()} FreeRADIUS threads and SQL connections per server"
    )


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
