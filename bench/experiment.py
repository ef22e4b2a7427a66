#!/usr/bin/env python3
"""Measure proposed changes to the RADIUS path, step by step, against what is deployed.

    ./deploy/stack.sh up bench
    .venv/bin/python bench/experiment.py bench/experiments/small_pools.patch
    .venv/bin/python bench/experiment.py --acct bench/experiments/open_sessions_index.sql \\
        bench/experiments/accounting_fewer_statements.sql

The steps are cumulative: "deployed", then + the first change, + the first two, and so on.
Every round measures each step and the stock baseline as radius_auth.py does (same data set,
load generator and table). A .sql file is applied to the bench database for its steps and
undone at the end of the round: the public functions, indexes, foreign keys, checks and table
options are snapshotted first and restored exactly. A .patch (a diff of freeradius-config/,
applied with patch -p1) runs a scratch FreeRADIUS rendered from a patched copy, on its own
ports, against the same database. With --acct, each step runs radius_acct.py instead (against
the stack's own server, so .sql changes only). Nothing in the repository changes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import auth_report
import dataset
import loadgen
import radius_auth
from common import (
    BASE_ROUTER,
    OURS_ROUTER,
    ROOT,
    RUN,
    dsn_of,
    load_env,
    ours_radius_pid,
    ours_threads,
    postmaster_pid,
    router_secret,
)

from radius.render import SOURCE, render

SCRATCH_PORT = 33812


async def snapshot(conn: asyncpg.Connection) -> tuple[dict, dict, dict, dict]:
    functions = await conn.fetch(
        "SELECT p.oid::regprocedure::text AS sig, pg_get_functiondef(p.oid) AS def "
        "  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        " WHERE n.nspname = 'public' AND p.prokind = 'f'"
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    # Foreign keys and checks; primary keys and unique constraints come back with their index.
    constraints = await conn.fetch(
        "SELECT format('%s.%I', conrelid::regclass, conname) AS name, "
        "       format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, "
        "              pg_get_constraintdef(oid)) AS def "
        "  FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('f', 'c')"
    )
    options = await conn.fetch(
        "SELECT relname, reloptions FROM pg_class "
        " WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'"
    )
    return dict(functions), dict(indexes), dict(constraints), dict(options)


# The snapshot of the schema as deployed, kept on disk while an experiment runs: a run that is
# killed before it restores (or hangs on a change the server cannot use) leaves it behind, and
# the next run restores from it first instead of taking the experiment's leftovers as deployed.
PENDING = RUN / "experiment" / "deployed-schema.json"


async def take_snapshot(dsn: dict) -> tuple[dict, dict, dict, dict]:
    if PENDING.exists():
        print(f"restoring the schema a killed experiment left changed ({PENDING})", flush=True)
        await restore(dsn, tuple(json.loads(PENDING.read_text())))
        PENDING.unlink()
    conn = await asyncpg.connect(**dsn)
    try:
        saved = await snapshot(conn)
    finally:
        await conn.close()
    PENDING.parent.mkdir(parents=True, exist_ok=True)
    PENDING.write_text(json.dumps(saved))
    return saved


def done_with_snapshot() -> None:
    PENDING.unlink(missing_ok=True)


async def restore(dsn: dict, saved: tuple[dict, dict, dict, dict]) -> None:
    conn = await asyncpg.connect(**dsn)
    try:
        functions, indexes, constraints, options = await snapshot(conn)
        for sig, definition in saved[0].items():
            if functions.get(sig) != definition:
                await conn.execute(definition)
        for sig in functions.keys() - saved[0].keys():
            await conn.execute(f"DROP FUNCTION {sig}")
        for name in indexes.keys() - saved[1].keys():
            await conn.execute(f'DROP INDEX "{name}"')
        for name in saved[1].keys() - indexes.keys():
            await conn.execute(saved[1][name])
        for name in saved[2].keys() - constraints.keys():
            await conn.execute(saved[2][name])
        for name in constraints.keys() - saved[2].keys():
            table, _, constraint = name.rpartition(".")
            await conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {constraint}")
        for table, now in options.items():
            if now != saved[3].get(table):
                keys = ", ".join(o.split("=")[0] for o in now or [])
                if keys:
                    await conn.execute(f'ALTER TABLE "{table}" RESET ({keys})')
                if saved[3].get(table):
                    await conn.execute(f'ALTER TABLE "{table}" SET ({", ".join(saved[3][table])})')
    finally:
        await conn.close()


async def apply_sql(dsn: dict, sql: str) -> None:
    conn = await asyncpg.connect(**dsn)
    try:
        await conn.execute(sql)
        await conn.execute("ANALYZE radacct")
    finally:
        await conn.close()


def start_scratch(patches: list[Path], port: int, dsn: dict, name: str) -> subprocess.Popen:
    """mnetifi's FreeRADIUS from a patched copy of freeradius-config/, on port and port + 1."""
    run = RUN / "experiment" / name
    shutil.rmtree(run, ignore_errors=True)
    (run / "log").mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(SOURCE, Path(tmp) / SOURCE.name)
        for patch in patches:
            subprocess.run(
                ["patch", "-s", "-p1", "-d", tmp, "-i", str(patch.resolve())], check=True
            )
        values = {
            "RUN_DIR": str(run),
            "DB_PORT": str(dsn["port"]),
            "DB_USER": dsn["user"],
            "DB_PASSWORD": dsn["password"],
            "DB_NAME": dsn["database"],
            "AUTH_PORT": str(port),
            "ACCT_PORT": str(port + 1),
            "STATUS_SECRET": "x",
            "RADIUS_PASSWORD_KEY": "",  # vouchers only: no subscriber password to decrypt
            "THREADS": ours_threads(),
        }
        render(run / "raddb", values, Path(tmp) / SOURCE.name)
    proc = subprocess.Popen(
        ["freeradius", "-f", "-d", str(run / "raddb")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # as radius_auth.start_baseline() says
    )
    time.sleep(2)
    if proc.poll() is not None:
        raise SystemExit(f"scratch FreeRADIUS did not start: freeradius -XC -d {run / 'raddb'}")
    return proc


def accounting(args: argparse.Namespace) -> None:
    """Each step's accounting figures, from radius_acct.py against the stack's server."""
    if any(c.suffix != ".sql" for c in args.changes):
        raise SystemExit("--acct measures .sql changes only")
    dsn = dsn_of(load_env())
    saved = asyncio.run(take_snapshot(dsn))
    command = [sys.executable, str(ROOT / "bench" / "radius_acct.py")]
    try:
        for i in range(args.rounds):
            for k in range(len(args.changes) + 1):
                if k:
                    asyncio.run(apply_sql(dsn, args.changes[k - 1].read_text()))
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                name = "+" + args.changes[k - 1].stem if k else "deployed"
                print(f"round {i + 1}, {name}:")
                for line in out.splitlines():
                    if line.startswith(("phase", "Accounting-Start", "Interim-Update", "checked")):
                        print("  " + line)
            asyncio.run(restore(dsn, saved))
    finally:
        asyncio.run(restore(dsn, saved))
        done_with_snapshot()


def probe(
    target: radius_auth.Target,
    blaster: loadgen.Blaster,
    users: list[dataset.User],
    secret: str,
    sockets: int,
) -> None:
    """64 good logins first: a change that refuses them would otherwise make each round wait
    out the reject delay for every request (minutes, with nothing printed)."""
    packets = radius_auth.login_packets(random.choices(users, k=64), target.router,
                                        secret.encode(), sockets)  # fmt: skip
    run = blaster.run(packets)
    refused = run.sent - run.codes.get(loadgen.ACCESS_ACCEPT, 0)
    if refused:
        raise SystemExit(
            f"{target.name}: {refused} of {run.sent} good logins refused or lost; a broken "
            "change? (its FreeRADIUS log is under .run/bench/experiment/)"
        )


def build_steps(
    changes: list[Path], deployed: radius_auth.Target, dsn: dict, procs: list[subprocess.Popen]
) -> list[tuple[radius_auth.Target, Path | None]]:
    """Each step's server (a scratch one from the first .patch on) and the .sql file to apply
    before measuring it; scratch servers are appended to procs."""
    steps: list[tuple[radius_auth.Target, Path | None]] = [(deployed, None)]
    target, patches = deployed, []
    for k, change in enumerate(changes, 1):
        if change.suffix == ".patch":
            patches.append(change)
            port = SCRATCH_PORT + 10 * k
            procs.append(start_scratch(patches, port, dsn, f"step{k}"))
            target = radius_auth.Target("", port, OURS_ROUTER, procs[-1].pid)
        step = radius_auth.Target("+" + change.stem, target.port, target.router, target.radius_pid)
        steps.append((step, change if change.suffix == ".sql" else None))
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("changes", nargs="+", type=Path, help=".sql or .patch files, in order")
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--requests", type=int, default=15_000, help="per saturation round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fixed", action="store_true", help="also the fixed-rate load")
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument(
        "--acct", action="store_true", help="run radius_acct.py per step instead (.sql only)"
    )
    args = parser.parse_args()
    args.sockets, args.window, args.generator, args.slices = 4, 8, "loadgen", 1
    if args.acct:
        accounting(args)
        return

    env = load_env()
    dsn = dsn_of(env)
    secret = router_secret()
    label, users = asyncio.run(
        dataset.load_ours(dsn, args.vouchers, args.sessions, secret, reload=False)
    )
    asyncio.run(dataset.load_stock(dsn, users, args.sessions, label))
    postmaster = postmaster_pid(dsn["port"])
    deployed = radius_auth.Target(
        "deployed", int(env["MNETIFI_RADIUS_AUTH_PORT"]), OURS_ROUTER, ours_radius_pid()
    )
    procs = [radius_auth.start_baseline(dsn, secret)]
    baseline = radius_auth.Target("baseline", radius_auth.BASELINE_PORT, BASE_ROUTER, procs[0].pid)
    try:
        steps = build_steps(args.changes, deployed, dsn, procs)
    except BaseException:  # a patch that does not apply: stop the servers started so far
        for proc in procs:
            proc.terminate()
            proc.wait()
        raise
    saved = asyncio.run(take_snapshot(dsn))
    blasters = {}
    results: list[auth_report.Result] = []
    try:
        for t in [baseline] + [t for t, _ in steps]:
            blasters[t.name] = loadgen.Blaster(
                ("127.0.0.1", t.port), t.router, secret.encode(), args.sockets
            )
            probe(t, blasters[t.name], users, secret, args.sockets)
            radius_auth.one_round(
                t, blasters[t.name], users, args, secret.encode(), postmaster, False
            )
        for i in range(args.rounds):
            print(f"  round {i + 1}", flush=True)
            results += radius_auth.one_round(
                baseline, blasters["baseline"], users, args, secret.encode(), postmaster, args.fixed
            )
            for t, sql in steps:
                if sql:
                    asyncio.run(apply_sql(dsn, sql.read_text()))
                    probe(t, blasters[t.name], users, secret, args.sockets)
                    # A new index starts cold: warm it as the other steps were warmed.
                    sample = random.choices(users, k=3000)
                    blasters[t.name].run(
                        radius_auth.login_packets(sample, t.router, secret.encode(), args.sockets)
                    )
                results += radius_auth.one_round(
                    t, blasters[t.name], users, args, secret.encode(), postmaster, args.fixed
                )
            asyncio.run(restore(dsn, saved))
    finally:
        asyncio.run(restore(dsn, saved))
        done_with_snapshot()
        for proc in procs:
            proc.terminate()
            proc.wait()
        for b in blasters.values():
            b.close()
    auth_report.report(results, args)
    print(f"\nload generator loadgen; {os.cpu_count()} cores shared by all processes")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
