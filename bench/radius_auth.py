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

After a warm-up, --rounds rounds alternate between the servers; the median round is shown.
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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dataset
import loadgen
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


@dataclass
class Result:
    target: str
    mode: str  # "saturation" or "fixed"
    run: loadgen.Run
    cpu: Cpu  # servers' CPU during the run
    other_cpu_s: float  # everything else on the machine during the run

    def us(self, seconds: float) -> float:
        return seconds / self.run.sent * 1e6


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
    run = loadgen.Run(len(users), elapsed, [], {2: accepted, 3: rejected})
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
    """A saturation run and (if fixed) a fixed-rate run, each of fresh random logins."""
    sample = random.choices(users, k=args.requests)
    if args.generator == "radclient":
        parallel = args.sockets * args.window
        go = partial(radclient_run, target, sample, secret.decode(), parallel)
    else:
        packets = login_packets(sample, target.router, secret, args.sockets, target.subscribers)
        go = partial(blaster.run, packets, window=args.window)
    results = [Result(target.name, "saturation", *measure(target, postmaster, go))]
    if fixed:
        sample = random.choices(users, k=int(args.rate * args.seconds))
        packets = login_packets(sample, target.router, secret, args.sockets, target.subscribers)
        go = partial(blaster.run, packets, window=256, rate=args.rate)
        results.append(Result(target.name, "fixed", *measure(target, postmaster, go)))
    return results


def median_by_rate(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.run.per_s)[len(results) // 2]


def report(results: list[Result], args: argparse.Namespace) -> None:
    """Every round, then the median round per server and mode, then the ratios."""
    names = list(dict.fromkeys(r.target for r in results))
    width = max(9, *(len(n) for n in names))
    cores = os.cpu_count()
    print(f"\nper round (accepted/sent; other processes' CPU in % of {cores} cores)")
    for r in results:
        accepted = r.run.codes.get(loadgen.ACCESS_ACCEPT, 0)
        other = r.other_cpu_s / r.run.elapsed_s / cores * 100
        print(
            f"  {r.target:<{width}} {r.mode:<10} {r.run.per_s:>7.0f}/s  "
            f"p50 {r.run.percentile(0.5):6.2f}  p99 {r.run.percentile(0.99):7.2f} ms  "
            f"{accepted}/{r.run.sent}  lost {r.run.lost}  retx {r.run.retransmits}  "
            f"other {other:3.0f}%"
        )
    print(
        f"\nsaturation: {args.requests:,} logins, {args.sockets * args.window} outstanding "
        f"({args.generator}); fixed: {args.rate:,.0f}/s offered by loadgen, open loop, for "
        f"{args.seconds:g} s. Median round of {args.rounds}; CPU in us per auth.\n\n"
        f"{'server':<{width}} {'mode':<10} {'auth/s':>7} {'p50 ms':>7} {'p99 ms':>8} "
        f"{'accepted':>13} {'radiusd':>8} {'postgres':>8} {'server':>7} {'generator':>9}"
    )
    best = {}
    for mode in ("saturation", "fixed"):
        for name in names:
            rs = [r for r in results if r.target == name and r.mode == mode]
            if not rs:
                continue
            m = best[name, mode] = median_by_rate(rs)
            accepted = f"{m.run.codes.get(loadgen.ACCESS_ACCEPT, 0)}/{m.run.sent}"
            overloaded = mode == "fixed" and m.run.per_s < 0.97 * args.rate
            print(
                f"{name:<{width}} {mode:<10} {m.run.per_s:>7.0f} {m.run.percentile(0.5):>7.2f} "
                f"{m.run.percentile(0.99):>8.2f} {accepted:>13} {m.us(m.cpu.radius_s):>8.0f} "
                f"{m.us(m.cpu.postgres_s):>8.0f} {m.us(m.cpu.total_s):>7.0f} "
                f"{m.run.generator_us:>9.0f}"
                + ("  OVERLOADED: cannot sustain it" if overloaded else "")
            )
    voucher_only, mix = best.get(("mnetifi", "saturation")), best.get(("mnetifi-mix", "saturation"))
    if voucher_only and mix:
        print(
            f"\nPPPoE mix (half MS-CHAPv2 subscribers)/voucher-only at saturation: auth/s "
            f"{mix.run.per_s / voucher_only.run.per_s:.2f}x ({mix.run.per_s:.0f} vs "
            f"{voucher_only.run.per_s:.0f}; target >= 0.9x)"
        )
    rounds = {
        name: [r.run.per_s for r in results if r.target == name and r.mode == "saturation"]
        for name in names
    }
    for a, b, label in [
        ("mnetifi-mix", "mnetifi", "mix/voucher-only"),
        ("mnetifi", "baseline", "vouchers/stock"),
    ]:
        if rounds.get(a) and rounds.get(b):
            # The same round's two runs were minutes apart at most: a slow spell of the host
            # moves both.
            ratios = sorted(x / y for x, y in zip(rounds[a], rounds[b], strict=True))
            print(
                f"{label}, each round's two runs, lowest first: "
                + ", ".join(f"{x:.2f}" for x in ratios)
                + f" (median {ratios[len(ratios) // 2]:.2f}x)"
            )
    base = best.get(("baseline", "saturation"))
    for name in names:
        ours = best.get((name, "saturation"))
        if name in ("baseline", "mnetifi-mix") or not (ours and base):
            continue
        print(
            f"\n{name}/baseline at saturation: auth/s {ours.run.per_s / base.run.per_s:.2f}x, "
            f"server CPU per auth {ours.us(ours.cpu.total_s) / base.us(base.cpu.total_s):.2f}x "
            "the baseline's"
        )
    ours = [r for r in results if r.target != "baseline"]
    rejected = sum(r.run.codes.get(loadgen.ACCESS_REJECT, 0) for r in ours)
    if rejected:
        print(f"WARNING: {rejected} mnetifi logins were rejected; the figures are not valid")
    lost = sum(r.run.lost for r in results)
    if lost:
        print(f"{lost} requests got no answer after {loadgen.Blaster.retries} retries (overload)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--requests", type=int, default=20_000, help="per saturation round")
    parser.add_argument("--rate", type=float, default=2000, help="fixed-rate load, auth/s")
    parser.add_argument("--seconds", type=float, default=5, help="fixed-rate round length")
    parser.add_argument("--rounds", type=int, default=3)
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
    targets = [
        Target("mnetifi", int(env["MNETIFI_RADIUS_AUTH_PORT"]), OURS_ROUTER, ours_radius_pid()),
        Target("baseline", args.baseline_port, BASE_ROUTER, baseline.pid),
        Target(
            "mnetifi-mix",
            int(env["MNETIFI_RADIUS_AUTH_PORT"]),
            OURS_ROUTER,
            ours_radius_pid(),
            subscribers,
        ),  # fmt: skip
    ]
    if args.only:
        targets = [t for t in targets if t.name == args.only]
    blasters = {
        t.name: loadgen.Blaster(("127.0.0.1", t.port), t.router, secret.encode(), args.sockets)
        for t in targets
    }
    results: list[Result] = []
    try:
        for t in targets:  # warm-up: caches, connections, plans
            one_round(t, blasters[t.name], users, args, secret.encode(), postmaster, False)
        for i in range(args.rounds):
            for t in targets if i % 2 == 0 else targets[::-1]:
                print(f"  round {i + 1}: {t.name}", flush=True)
                results += one_round(t, blasters[t.name], users, args, secret.encode(), postmaster)
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
