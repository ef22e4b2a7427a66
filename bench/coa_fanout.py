#!/usr/bin/env python3
"""Fair-usage rate change fanned out by CoA: 1,000 live sessions on 20 routers, to all ACKs.

The bench ISP (tenant coabench) has --routers routers on 127.79.0.1.. (127.77/127.78 are the
other benches'), each played by a RouterSim (radius/router_sim.py) in this process, and
--per-router live sessions on each, one voucher of one plan per session, written into radacct
in one statement and put in their router's `sessions` (so only a CoA naming the right session,
user, address and MAC is ACKed).

Fan-out: in one unit of work, an ISP-wide fair-usage rule with threshold 0 is inserted and
fairuse.evaluate() run, as the worker's cron would; it writes one coa_request per session and,
after the commit, queues them to the bench stack's worker (send_coa_batch, 500 per job), which
sends them on its one CoA socket and records each answer. The clock starts (t0) just before the
commit. Two figures, on this process's monotonic clock:

  t_sims  the 1,000th CoA-ACK sent by the sims (RouterSim.received[].at, taken just before the
          reply leaves); per session, t0 -> its ACK gives p50/p99
  t_db    all 1,000 coa_request rows answered in PostgreSQL (polled every 10 ms)

Baseline: the same 1,000 CoA-Requests (the attributes the worker sent) from this process with
one CoAClient bound to 127.79.0.254, no database and no worker, to the same sims.

Restore: the rule is deactivated and evaluate() run again; the plan's rate goes back to every
session, measured the same way.

Checked at the end: every session received exactly one CoA from the worker each way (the
throttled rate, then the plan's; retransmissions of a request are counted, not failed), one
from the baseline, holds the plan's rate at its router; in SQL, two coa_request rows per
session, both ACKed with those rates, and radacct.applied_rate back at the plan's. Failures are
printed and exit 1. The CPU each process used per phase is printed (the machine's cores are
shared by all of them, the sims included).

The ISP, its plan and routers are kept between runs; its vouchers, sessions, rules and CoA
requests are deleted when a run starts, and its sessions closed when it ends.

    ./deploy/stack.sh up bench && .venv/bin/python bench/coa_fanout.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import time
from dataclasses import dataclass, field

import asyncpg
from common import RUN, dsn_of, load_env, postmaster_pid, server_cpu
from pyrad.dictionary import Dictionary
from radius_auth import machine_busy_s
from sqlalchemy import text

# The API's modules read their settings lazily: main() loads the bench stack's first.
from api.db import get_engine, unit_of_work
from api.sessions import fairuse
from radius.coa import CoAClient, Target
from radius.router_sim import DICTIONARY, RouterSim

SLUG = "coabench"
NET = "127.79.0."  # router n is 127.79.0.n
BASELINE_SOURCE = "127.79.0.254"  # tells the baseline's requests from the worker's at the sims
PLAN_RATE, THROTTLED = "2M/4M", "1M/1M"  # the plan is 2000/4000 kbps
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
TARGET_S = 2.0


@dataclass
class Isp:
    tenant_id: int
    sims: list[RouterSim]
    sessions: dict[str, RouterSim]  # Acct-Session-Id -> the router holding it


@dataclass
class Phase:
    name: str
    rate: str
    evaluate_s: float = 0.0  # deciding, before the commit (not in the figures)
    acks: dict[str, float] = field(default_factory=dict)  # session -> its ACK, s after t0
    t_db: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


# ---------------------------------------------------------------- the ISP, its routers, sessions


async def make_isp(conn: asyncpg.Connection, routers: int, per_router: int) -> Isp:
    tenant = await conn.fetchval(
        "INSERT INTO tenant (slug, name) VALUES ($1, 'CoA fan-out bench') "
        "ON CONFLICT (slug) DO UPDATE SET active = true RETURNING id",
        SLUG,
    )
    plan = await conn.fetchval(
        "SELECT id FROM plan WHERE tenant_id = $1 AND name = '1 day'", tenant
    ) or await conn.fetchval(
        "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, download_kbps) "
        "VALUES ($1, '1 day', 50, 86400, 2000, 4000) RETURNING id",
        tenant,
    )
    async with conn.transaction():  # earlier runs: children first
        for table in ("coa_request", "fair_usage_state", "fair_usage_rule", "radacct"):
            await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM voucher WHERE tenant_id = $1", tenant)
    dictionary = Dictionary(str(DICTIONARY))
    sims = [RouterSim(f"{NET}{n}", secrets.token_urlsafe(18).encode(), dictionary=dictionary)
            for n in range(1, routers + 1)]  # fmt: skip
    for sim in sims:
        await sim.start()  # a free port each; the router rows learn it
    await conn.executemany(
        "INSERT INTO router (tenant_id, name, ip_address, secret, coa_port) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ip_address) DO UPDATE "
        "SET secret = excluded.secret, coa_port = excluded.coa_port, enabled = true",
        [(tenant, f"coa-{n:02d}", s.address, s.secret.decode(), s.port)
         for n, s in enumerate(sims, 1)],
    )  # fmt: skip
    sessions = await go_online(conn, tenant, plan, sims, per_router)
    return Isp(tenant, sims, sessions)


async def go_online(
    conn: asyncpg.Connection, tenant: int, plan: int, sims: list[RouterSim], per_router: int
) -> dict[str, RouterSim]:
    """One voucher per session, in use for 5 minutes (valid a day), its session live on one
    router as a fresh Accounting-Start would leave it; each router knows its sessions."""
    count, run = len(sims) * per_router, secrets.token_hex(3)
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(CODE_ALPHABET) for _ in range(8)))
    rows = [
        (code, f"{run}{i:05x}", sims[i // per_router].address, f"10.79.{i // 250}.{i % 250 + 2}",
         f"02:79:00:00:{i >> 8:02X}:{i & 255:02X}")
        for i, code in enumerate(sorted(codes))
    ]  # fmt: skip
    await conn.execute(
        """
        WITH v AS (
            INSERT INTO voucher (tenant_id, plan_id, code, duration_seconds, rate_limit,
                                 device_limit, status, first_used_at, expires_at)
            SELECT $1, $2, code, 86400, $3, 1, 'active', now() - interval '5 minutes',
                   now() + interval '1 day'
              FROM unnest($4::text[]) AS code
            RETURNING id, code)
        INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress,
                             nasporttype, acctstarttime, acctupdatetime, acctsessiontime,
                             acctinputoctets, acctoutputoctets, callingstationid,
                             framedipaddress, voucher_id)
        SELECT $1, s.sid, 'coabench-' || s.sid, v.code, s.nas::inet, 'Wireless-802.11',
               now() - interval '5 minutes', now(), 300, 0, 0, s.mac, s.ip::inet, v.id
          FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
               AS s(code, sid, nas, ip, mac)
          JOIN v USING (code)""",
        tenant, plan, PLAN_RATE, *(list(column) for column in zip(*rows, strict=True)),
    )  # fmt: skip
    sessions = {}
    for code, sid, nas, ip, mac in rows:
        sim = sims[int(nas.rsplit(".", 1)[1]) - 1]
        sim.sessions[sid] = {"User-Name": code, "Framed-IP-Address": ip, "Calling-Station-Id": mac}
        sessions[sid] = sim
    return sessions


# ---------------------------------------------------------------- CPU per process


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    return {
        "worker": _proc_cpu_s(pids["worker"]),
        "PostgreSQL": server_cpu(0, pids["postgres"]).postgres_s,
        "bench+sims": time.process_time(),
        "machine": machine_busy_s(),
    }


def cpu_used(before: dict[str, float], pids: dict[str, int]) -> dict[str, float]:
    after = cpu_now(pids)
    return {k: after[k] - before[k] for k in after}


# ---------------------------------------------------------------- the fan-out through the worker


async def decide(isp: Isp, phase: Phase, pids: dict[str, int]) -> tuple[float, list[int]]:
    """Throttles (or restores) every session as the cron would; returns t0 and the requests.
    The phase's CPU is counted from the commit too."""
    started = time.monotonic()
    async with unit_of_work() as session:
        if phase.rate == THROTTLED:
            await session.execute(
                text("INSERT INTO fair_usage_rule (tenant_id, scope, threshold, rate_limit) "
                     "VALUES (:t, 'isp', 0, :rate)"), {"t": isp.tenant_id, "rate": THROTTLED},
            )  # fmt: skip
        else:
            await session.execute(
                text("UPDATE fair_usage_rule SET active = false WHERE tenant_id = :t"),
                {"t": isp.tenant_id},
            )
        ids = await fairuse.evaluate(session, isp.tenant_id)
        phase.cpu = cpu_now(pids)
        t0 = time.monotonic()  # the commit (and, after it, the dispatch) comes next
    phase.evaluate_s = t0 - started
    return t0, ids


def scan(isp: Isp, phase: Phase, t0: float, seen: dict[int, int]) -> None:
    """The worker's ACKs carrying the phase's rate, that the sims sent since t0."""
    for n, sim in enumerate(isp.sims):
        new = sim.received[seen.get(n, 0) :]
        seen[n] = seen.get(n, 0) + len(new)
        for r in new:
            if (
                r.source[0] != BASELINE_SOURCE
                and r.code == "coa"
                and r.answer == "ack"
                and r.attributes.get("Mikrotik-Rate-Limit") == phase.rate
                and r.at >= t0
            ):
                phase.acks.setdefault(r.attributes["Acct-Session-Id"], r.at - t0)


async def through_worker(
    conn: asyncpg.Connection, isp: Isp, phase: Phase, pids: dict[str, int], wait: float
) -> list[int]:
    seen = {n: len(sim.received) for n, sim in enumerate(isp.sims)}
    t0, ids = await decide(isp, phase, pids)
    deadline = t0 + wait
    while time.monotonic() < deadline:
        scan(isp, phase, t0, seen)
        if phase.t_db is None:
            # The ISP's pending requests are the phase's (earlier ones are answered); the
            # partial index on pending rows keeps the poll cheap. verify() checks each row.
            pending = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM coa_request "
                "WHERE status = 'pending' AND tenant_id = $1)",
                isp.tenant_id,
            )
            if not pending:
                phase.t_db = time.monotonic() - t0
        if phase.t_db is not None and len(phase.acks) >= len(isp.sessions):
            break
        await asyncio.sleep(0.01)
    phase.elapsed = time.monotonic() - t0
    phase.cpu = cpu_used(phase.cpu, pids)
    return ids


# ---------------------------------------------------------------- the baseline: no DB, no worker


async def baseline(
    conn: asyncpg.Connection, isp: Isp, ids: list[int], pids: dict[str, int]
) -> Phase:
    """The fan-out's requests again, from one CoAClient here; the sims share this process's
    event loop with it, as they do with the polling in the other phases."""
    rows = await conn.fetch(
        "SELECT c.attributes, host(r.ip_address) AS address, r.coa_port, r.secret "
        "FROM coa_request c JOIN router r ON r.id = c.router_id WHERE c.id = ANY($1::bigint[]) "
        "ORDER BY c.id",
        ids,
    )
    requests = [
        (Target(r["address"], r["coa_port"], r["secret"].encode()), json.loads(r["attributes"]))
        for r in rows
    ]
    phase, seen = Phase("baseline", THROTTLED), {n: len(s.received) for n, s in enumerate(isp.sims)}
    async with CoAClient(source=BASELINE_SOURCE) as client:
        before = cpu_now(pids)
        t0 = time.monotonic()
        results = await asyncio.gather(*(client.change(t, a) for t, a in requests))
        phase.elapsed = time.monotonic() - t0
        phase.cpu = cpu_used(before, pids)
    for n, sim in enumerate(isp.sims):
        for r in sim.received[seen[n] :]:
            if r.source[0] == BASELINE_SOURCE and r.answer == "ack":
                phase.acks.setdefault(r.attributes["Acct-Session-Id"], r.at - t0)
    acked = sum(r.outcome == "ack" for r in results)
    if acked != len(requests):
        print(f"  baseline: only {acked} of {len(requests)} ACKed")
    return phase


# ---------------------------------------------------------------- checking and reporting

WANT = ([THROTTLED, PLAN_RATE], ["ack", "ack"], PLAN_RATE)  # rates, answers, applied_rate
CHECK_SQL = """
SELECT a.acctsessionid AS sid, a.applied_rate,
       array_agg(c.status ORDER BY c.id) AS statuses,
       array_agg(c.attributes ->> 'Mikrotik-Rate-Limit' ORDER BY c.id) AS rates
  FROM radacct a LEFT JOIN coa_request c ON c.radacct_id = a.radacctid
 WHERE a.tenant_id = $1
 GROUP BY a.radacctid
"""


async def verify(conn: asyncpg.Connection, isp: Isp) -> list[str]:
    """What is wrong with each session, at its router and in the database; [] if all is well."""
    sent: dict[str, dict[str, list]] = {sid: {"worker": [], "baseline": []} for sid in isp.sessions}
    problems = []
    for sim in isp.sims:
        if sim.rejected:
            problems.append(f"router {sim.address}: {sim.rejected} requests failed verification")
        # Retransmissions once. A CoA-Request is deterministic (its authenticator is a hash of
        # the packet): the baseline's can equal the worker's byte for byte, but not its source.
        distinct = {(r.source, r.raw): r for r in sim.received}.values()
        for r in distinct:
            sid = r.attributes.get("Acct-Session-Id")
            if r.code != "coa" or r.answer != "ack" or isp.sessions.get(sid) is not sim:
                problems.append(f"router {sim.address}: {r.answer} to a {r.code} for {sid}")
                continue
            who = "baseline" if r.source[0] == BASELINE_SOURCE else "worker"
            sent[sid][who].append(r.attributes.get("Mikrotik-Rate-Limit"))
    rows = {r["sid"]: r for r in await conn.fetch(CHECK_SQL, isp.tenant_id)}
    for sid, sim in isp.sessions.items():
        why, row = [], rows.get(sid)
        if sent[sid]["worker"] != [THROTTLED, PLAN_RATE]:
            why.append(f"worker's CoAs at the router: {sent[sid]['worker']}")
        if sent[sid]["baseline"] != [THROTTLED]:
            why.append(f"baseline's CoAs at the router: {sent[sid]['baseline']}")
        if sim.sessions[sid].get("Mikrotik-Rate-Limit") != PLAN_RATE:
            why.append(f"router holds {sim.sessions[sid].get('Mikrotik-Rate-Limit')}")
        if row is None:
            why.append("radacct row missing")
        elif (row["rates"], row["statuses"], row["applied_rate"]) != WANT:
            why.append(f"coa_request {list(zip(row['rates'], row['statuses'], strict=True))}, "
                       f"applied_rate {row['applied_rate']}")  # fmt: skip
        if why:
            problems.append(f"session {sid}: " + "; ".join(why))
    return problems


def retransmissions(isp: Isp) -> int:
    return sum(len(s.received) - len({(r.source, r.raw) for r in s.received}) for s in isp.sims)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def report(phase: Phase, sessions: int) -> float:
    """Prints the phase; returns t_sims (inf if not every session got its ACK)."""
    lat = list(phase.acks.values())
    t_sims = max(lat) if len(lat) == sessions else math.inf
    print(f"\n{phase.name}: {phase.rate} to {sessions} sessions"
          + (f" (evaluate before the commit: {phase.evaluate_s:.2f} s)" if phase.evaluate_s
             else ""))  # fmt: skip
    if lat:
        print(f"  ACKs sent by the sims:  {len(lat)}/{sessions}, last {t_sims:.3f} s after t0 "
              f"(first {min(lat):.3f}, p50 {percentile(lat, 0.5):.3f}, "
              f"p99 {percentile(lat, 0.99):.3f})")  # fmt: skip
    if phase.name == "baseline":
        print(f"  all ACKs at the client: {phase.elapsed:.3f} s")
    else:
        db = f"{phase.t_db:.3f} s" if phase.t_db is not None else f"not in {phase.elapsed:.0f} s"
        print(f"  all rows answered in PostgreSQL: {db}")
    cpu = dict(phase.cpu)
    machine = cpu.pop("machine")
    print("  CPU s: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f", other {max(machine - sum(cpu.values()), 0):.2f} "
          f"({machine / phase.elapsed / (os.cpu_count() or 1) * 100:.0f}% of "
          f"{os.cpu_count()} cores busy)")  # fmt: skip
    return t_sims


# ---------------------------------------------------------------- main


async def bench(args: argparse.Namespace, env: dict[str, str]) -> int:
    conn = await asyncpg.connect(**dsn_of(env))
    pids = {
        "worker": int((RUN / "worker.pid").read_text()),
        "postgres": postmaster_pid(dsn_of(env)["port"]),
    }
    isp = await make_isp(conn, args.routers, args.per_router)
    n = len(isp.sessions)
    print(f"CoA fan-out: fair-usage rate change to {n} sessions on {len(isp.sims)} simulated "
          f"routers via the bench worker (tenant {SLUG}, {os.cpu_count()} cores shared by "
          "all processes)", flush=True)  # fmt: skip
    try:
        throttle = Phase("fan-out via the worker", THROTTLED)
        ids = await through_worker(conn, isp, throttle, pids, args.wait)
        t_fan = report(throttle, n)
        base = await baseline(conn, isp, ids, pids)
        t_base = report(base, n)
        restore = Phase("restore via the worker", PLAN_RATE)
        await through_worker(conn, isp, restore, pids, args.wait)
        t_restore = report(restore, n)
        await asyncio.sleep(0.5)  # anything sent twice would arrive now
        problems = await verify(conn, isp)
    finally:  # nothing left for the worker's cron to act on
        await conn.execute(
            "UPDATE fair_usage_rule SET active = false WHERE tenant_id = $1", isp.tenant_id
        )
        await conn.execute(
            "UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'Admin-Reset' "
            "WHERE tenant_id = $1 AND acctstoptime IS NULL",
            isp.tenant_id,
        )
        for sim in isp.sims:
            await sim.stop()
        await conn.close()
        await get_engine().dispose()
    return summary(t_fan, t_restore, t_base, base.elapsed, throttle, problems, isp)


def summary(
    t_fan: float, t_restore: float, t_base: float, base_client: float, throttle: Phase,
    problems: list[str], isp: Isp,
) -> int:  # fmt: skip
    print(f"\nvia the worker / baseline (last ACK at the sims): fan-out {t_fan / t_base:.1f}x, "
          f"restore {t_restore / t_base:.1f}x; all answers recorded / baseline client: "
          f"{(throttle.t_db or math.inf) / base_client:.1f}x")  # fmt: skip
    met = max(t_fan, t_restore) < TARGET_S
    print(f"all ACKs (fan-out {t_fan:.2f} s, restore {t_restore:.2f} s): target < {TARGET_S:.0f} s "
          + ("met" if met else "NOT MET"))  # fmt: skip
    print(f"retransmissions seen by the sims: {retransmissions(isp)}")
    if problems:
        print(f"\nFAILED: {len(problems)} problems:")
        for line in problems[:20]:
            print(f"  {line}")
        return 1
    print(f"verified: each of {len(isp.sessions)} sessions got exactly one CoA each way from the "
          "worker (throttled, then its plan's rate), one from the baseline, all ACKed and "
          "recorded")  # fmt: skip
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routers", type=int, default=20, help="simulated routers (max 250)")
    parser.add_argument("--per-router", type=int, default=50, help="live sessions per router")
    parser.add_argument("--wait", type=float, default=30.0, help="give up on a phase after (s)")
    args = parser.parse_args()
    if not 1 <= args.routers <= 250 or not 1 <= args.per_router <= 250:
        parser.error("--routers and --per-router go from 1 to 250")
    env = load_env()
    # The API's modules read their settings from the environment: the bench stack's.
    os.environ.update({k: v for k, v in env.items() if k.startswith("MNETIFI_")})
    raise SystemExit(asyncio.run(bench(args, env)))


if __name__ == "__main__":
    main()
