#!/usr/bin/env python3
"""Staff login with TOTP: what the second factor costs, and p99 at 20 concurrent logins.

Against the bench stack's real uvicorn API, over HTTP, as a browser on the ISP's subdomain signs
in (Host <slug>.<base_domain>; no cookie kept, the bearer token names the login). Four phases of
--logins logins each, in this order:

  password         1 in flight     POST /api/v1/auth/login -> stage "full" (the baseline)
  password + TOTP  1 in flight     POST /api/v1/auth/login -> stage "second_factor", then
                                   POST /api/v1/auth/second-factor {code} -> stage "full"
  password         --concurrency   the same, closed loop
  password + TOTP  --concurrency

A login's latency runs from its first request to the answer that says stage "full". Each phase
prints p50/p95/p99/max (nearest rank), logins/s and the CPU each login cost the API process,
PostgreSQL, this client and every other process (a busy machine shows in that last column: the
figures are only as quiet as the machine). Then the ratio of the TOTP p99 to the password-only
p99 at each concurrency (what the second factor costs), whether the TOTP p99 at --concurrency is
under 300 ms, the argon2 parameters in use (api.security.pwd_context, the code the API runs)
with what one verify costs in this process, and the API's gate on password checks. Every login
must end at stage "full" and the audit log must hold one login (and one second factor) per
login made; anything else is printed and exits 1.

The bench ISP (tenant loginbench) and its accounts are kept between runs: --staff people with
TOTP enrolled through api.auth.second_factor (start_totp, confirm: the secret is stored
encrypted, as in production; the bench keeps its own copy in
.run/bench/secrets/staff-login-totp.json, as a phone would) and --staff with no second factor,
all created by api.staff.service.create_staff. Accounts whose hash has argon2 parameters that
are no longer current (seeded before a change of them) sign in once before the clock starts, so
that the API rehashes them as it would anyone's; the run checks that it did.

A TOTP step is accepted once per person (a replay is refused), so a person signs in with TOTP
at most once per 30 s step: a TOTP login takes the person who signed in longest ago, and waits
for the next step when that person already used the current one (the wait is left out of the
latency and of logins/s, and printed). The logins in flight are always different people: the
login limiter counts an account's attempts in flight.

    ./deploy/stack.sh up bench && .venv/bin/python bench/staff_login.py
    .venv/bin/python bench/staff_login.py --quick     # tiny (tests/test_benches.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shlex
import sys
import time
from collections import deque
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path

import asyncpg
import httpx
import pyotp
from common import ROOT, RUN, dsn_of, load_env, postmaster_pid, server_cpu
from payment_latency import process_cpu_s
from radius_auth import machine_busy_s

# The API's modules read their settings lazily: main() loads the bench stack's first.
from api.auth import second_factor, totp
from api.config import get_settings
from api.db import get_engine, unit_of_work
from api.security import pwd_context
from api.staff import service as staff_service
from api.tenancy import Principal

SLUG = "loginbench"
PASSWORD = "Kitenge Blue Umbrella 42"  # passes api.passwords for every bench e-mail
TARGET_P99_MS = 300.0
SECRETS_FILE = "staff-login-totp.json"  # in the run directory's secrets/


@dataclass
class Person:
    staff_id: int
    email: str
    secret: str | None  # the TOTP secret; None: no second factor
    last_step: int | None = None  # the last TOTP step this person used


@dataclass
class Sample:
    total_ms: float = math.nan
    password_ms: float = math.nan  # the first request alone
    error: str | None = None


@dataclass
class Phase:
    name: str
    in_flight: int
    samples: list[Sample]
    elapsed_s: float
    waited_s: float  # waiting for a new TOTP step, with nobody in flight
    cpu_ms: dict[str, float]  # per login, by process; "other": the rest of the machine


# ---------------------------------------------------------------- the ISP and its people


def current_step() -> int:
    return int(time.time() // totp.STEP)


async def make_isp(conn: asyncpg.Connection) -> int:
    """The bench tenant; it must not require a second factor (the baseline has none)."""
    return await conn.fetchval(
        "INSERT INTO tenant (slug, name) VALUES ($1, 'Staff login bench') "
        "ON CONFLICT (slug) DO UPDATE SET active = true, require_second_factor = false "
        "RETURNING id",
        SLUG,
    )


async def create(tenant: int, email: str) -> int:
    async with unit_of_work() as session:
        staff = await staff_service.create_staff(
            session, Principal.cli(tenant), email=email, password=PASSWORD, role="support"
        )
        return staff.id


async def enrol(conn: asyncpg.Connection, tenant: int, staff_id: int, email: str) -> str:
    """TOTP from scratch through the real enrolment; returns the secret. Confirmed with the
    previous step's code (within the drift the API allows), so the current step is still free
    for a login."""
    async with conn.transaction():  # a person whose secret the bench lost: start again
        await conn.execute("DELETE FROM recovery_code WHERE staff_id = $1", staff_id)
        await conn.execute("DELETE FROM second_factor WHERE staff_id = $1", staff_id)
    async with unit_of_work() as session:
        started = await second_factor.start_totp(
            session, tenant, staff_id, account=email, issuer="mnetifi bench"
        )
        code = pyotp.TOTP(started.secret, interval=totp.STEP).generate_otp(current_step() - 1)
        await second_factor.confirm(session, tenant, staff_id, code)
    return started.secret


async def seed(conn: asyncpg.Connection, tenant: int, count: int, run: Path) -> list[Person]:
    """`count` people with TOTP and `count` without (TOTP people first), created or enrolled
    where missing; idempotent."""
    rows = await conn.fetch(
        "SELECT s.id, s.email, f.method, f.totp_last_step FROM staff_user s "
        "LEFT JOIN second_factor f ON f.staff_id = s.id WHERE s.tenant_id = $1",
        tenant,
    )
    found = {r["email"]: r for r in rows}
    secrets_path = run / "secrets" / SECRETS_FILE
    kept = json.loads(secrets_path.read_text()) if secrets_path.exists() else {}
    people, created, enrolled = [], 0, 0
    for kind in ("totp", "plain"):
        for i in range(count):
            email = f"{kind}{i:04d}@{SLUG}.example.com"
            row = found.get(email)
            staff_id = row["id"] if row else await create(tenant, email)
            created += row is None
            if kind == "plain":
                people.append(Person(staff_id, email, None))
            elif row is not None and row["method"] == "totp" and email in kept:
                people.append(Person(staff_id, email, kept[email], row["totp_last_step"]))
            else:
                kept[email] = await enrol(conn, tenant, staff_id, email)
                secrets_path.write_text(json.dumps(kept))  # at once: the database has it now
                secrets_path.chmod(0o600)
                people.append(Person(staff_id, email, kept[email], current_step() - 1))
                enrolled += 1
    await get_engine().dispose()
    if created or enrolled:
        print(f"seeded: {created} accounts created, {enrolled} enrolled in TOTP", flush=True)
    return people


async def stale_hashes(conn: asyncpg.Connection, tenant: int) -> list[str]:
    """E-mails of bench accounts whose hash has argon2 parameters that are not current."""
    rows = await conn.fetch(
        "SELECT email, password_hash FROM staff_user WHERE tenant_id = $1", tenant
    )
    return [r["email"] for r in rows if pwd_context.needs_update(r["password_hash"])]


async def rehash_by_login(conn: asyncpg.Connection, tenant: int, api: httpx.AsyncClient) -> str:
    """Signs in (password step only) each account with a stale hash, so that the API rehashes
    it; returns what is still wrong afterwards ('' when nothing)."""
    stale = await stale_hashes(conn, tenant)
    if not stale:
        return ""
    print(f"{len(stale)} accounts hashed with other argon2 parameters: signing each in once")
    host = {"host": f"{SLUG}.{get_settings().base_domain}"}
    for email in stale:
        body = {"email": email, "password": PASSWORD}
        await api.post("/api/v1/auth/login", json=body, headers=host)
    left = await stale_hashes(conn, tenant)
    return f"{len(left)} accounts were not rehashed by their login" if left else ""


class Pool:
    """People in the order they last signed in. A TOTP person is ready once the clock has left
    the step of their last code; take() waits for the next step when the first is not."""

    def __init__(self, people: list[Person]) -> None:
        self.queue = deque(sorted(people, key=lambda p: p.last_step or 0))
        self.lock = asyncio.Lock()
        self.waited_s = 0.0

    async def take(self) -> tuple[Person, int]:
        async with self.lock:  # one waiter at a time: the others queue behind it
            head = self.queue[0]
            if head.secret is not None and (head.last_step or 0) >= current_step():
                began = time.perf_counter()
                await asyncio.sleep((current_step() + 1) * totp.STEP - time.time() + 0.01)
                self.waited_s += time.perf_counter() - began
            person, step = self.queue.popleft(), current_step()
            if person.secret is not None:
                person.last_step = step
            return person, step

    def give_back(self, person: Person) -> None:
        self.queue.append(person)


# ---------------------------------------------------------------- one login, one phase


async def log_in(api: httpx.AsyncClient, host: dict[str, str], p: Person, step: int) -> Sample:
    code = None
    if p.secret is not None:  # read off the phone before the clock starts
        code = pyotp.TOTP(p.secret, interval=totp.STEP).generate_otp(step)
    body, s = {"email": p.email, "password": PASSWORD}, Sample()
    t0 = time.perf_counter()
    try:
        r = await api.post("/api/v1/auth/login", json=body, headers=host)
        s.password_ms = (time.perf_counter() - t0) * 1000
        want = "full" if code is None else "second_factor"
        if r.status_code != 200 or r.json().get("stage") != want:
            s.error = f"{p.email}: login answered {r.status_code} {r.text[:200]}"
            return s
        if code is not None:
            auth = host | {"authorization": f"Bearer {r.json()['access_token']}"}
            r = await api.post("/api/v1/auth/second-factor", json={"code": code}, headers=auth)
            if r.status_code != 200 or r.json().get("stage") != "full":
                s.error = f"{p.email}: second factor answered {r.status_code} {r.text[:200]}"
                return s
        s.total_ms = (time.perf_counter() - t0) * 1000
    except (httpx.HTTPError, ValueError) as exc:
        s.error = f"{p.email}: {type(exc).__name__}: {exc}"
    return s


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the API process, PostgreSQL, this client and the machine."""
    return {
        "API": process_cpu_s(pids["API"]),
        "PostgreSQL": server_cpu(-1, pids["PostgreSQL"]).postgres_s,  # -1: no FreeRADIUS
        "this client": time.process_time(),
        "machine": machine_busy_s(),
    }


async def run_phase(
    api: httpx.AsyncClient, pool: Pool, name: str, count: int, in_flight: int, pids: dict[str, int]
) -> Phase:
    host = {"host": f"{SLUG}.{get_settings().base_domain}"}
    todo, samples = iter(range(count)), []

    async def worker() -> None:
        for _ in todo:  # shared: each login is made once
            person, step = await pool.take()
            try:
                samples.append(await log_in(api, host, person, step))
            finally:
                pool.give_back(person)

    waited, before, started = pool.waited_s, cpu_now(pids), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, after = time.perf_counter() - started, cpu_now(pids)
    used = {k: (after[k] - before[k]) * 1000 / max(count, 1) for k in after}
    used["other"] = max(used.pop("machine") - sum(used.values()), 0.0)
    return Phase(name, in_flight, samples, elapsed, pool.waited_s - waited, used)


# ---------------------------------------------------------------- checking and reporting


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; nan when there is nothing."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def one_verify_ms(rounds: int = 20) -> float:
    """Median wall time of one argon2 verify of a current hash, in this process."""
    hashed = pwd_context.hash(PASSWORD)
    pwd_context.verify(PASSWORD, hashed)
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        pwd_context.verify(PASSWORD, hashed)
        times.append((time.perf_counter() - began) * 1000)
    return percentile(times, 0.5)


def argon2_line() -> str:
    h = pwd_context.handler()
    return (
        f"argon2{h.type} m={h.memory_cost} KiB ({h.memory_cost / 1024:.0f} MiB), "
        f"t={h.default_rounds}, p={h.parallelism} (api.security.pwd_context)"
    )


HEADER = (
    f"  {'phase':<16} {'in flight':>9} {'logins':>7} {'logins/s':>9} {'p50':>7} {'p95':>7} "
    f"{'p99':>7} {'max':>7} {'failed':>7}  CPU ms per login: API, PostgreSQL, this client, other"
)


def report(phase: Phase) -> float:
    """One row of the table (latencies in ms); returns the phase's p99."""
    done = [s.total_ms for s in phase.samples if s.error is None]
    rate = len(done) / (phase.elapsed_s - phase.waited_s)
    qs = [percentile(done, q) for q in (0.5, 0.95, 0.99)] + [max(done, default=math.nan)]
    failed = len(phase.samples) - len(done)
    latency = " ".join(f"{v:7.1f}" for v in qs)
    cpu = " ".join(f"{v:5.1f}" for v in phase.cpu_ms.values())
    print(
        f"  {phase.name:<16} {phase.in_flight:>9} {len(phase.samples):>7} {rate:>9.1f} "
        f"{latency} {failed:>7}  {cpu}"
    )
    return qs[2]


def split_line(phase: Phase) -> str:
    done = [s for s in phase.samples if s.error is None]
    first = percentile([s.password_ms for s in done], 0.5)
    second = percentile([s.total_ms - s.password_ms for s in done], 0.5)
    return f"password step {first:.1f} ms + code step {second:.1f} ms (p50s)"


async def audited(conn: asyncpg.Connection, tenant: int, since: object) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT action, count(*) AS n FROM audit_event WHERE tenant_id = $1 AND created_at >= $2 "
        "AND action LIKE 'auth.%' GROUP BY action",
        tenant,
        since,
    )
    return {r["action"]: r["n"] for r in rows}


def check_audit(got: dict[str, int], logins: int, with_totp: int) -> str:
    want = {"auth.login": logins, "auth.second_factor": with_totp}
    if got == want:
        return ""
    return f"the audit log holds {got}, expected {want}"


# ---------------------------------------------------------------- main


def no_cookies() -> CookieJar:
    """A jar that keeps nothing: concurrent logins share one client, each with its own token."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


async def bench(args: argparse.Namespace, env: dict[str, str]) -> int:
    dsn = dsn_of(env)
    conn = await asyncpg.connect(**dsn)
    pids = {
        "API": int((args.run_dir / "api.pid").read_text()),
        "PostgreSQL": postmaster_pid(dsn["port"]),
    }
    tenant = await make_isp(conn)
    people = await seed(conn, tenant, args.staff, args.run_dir)
    with_totp = Pool([p for p in people if p.secret is not None])
    password_only = Pool([p for p in people if p.secret is None])
    settings = get_settings()
    print(
        f"staff login: tenant {SLUG}, {args.staff} accounts with TOTP and {args.staff} without, "
        f"{args.logins} logins per phase, {os.cpu_count()} cores shared by all processes\n"
        f"{argon2_line()}; one verify here {one_verify_ms():.1f} ms (median of 20)\n"
        f"API password checks: {settings.password_checks_concurrent} at a time, "
        f"{settings.password_checks_waiting} may wait",
        flush=True,
    )
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    url, timeout = env["MNETIFI_API_URL"], httpx.Timeout(30.0)
    problems, p99s, phases = [], {}, []
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=timeout, cookies=no_cookies()
    ) as api:
        if problem := await rehash_by_login(conn, tenant, api):
            problems.append(problem)
        since = await conn.fetchval("SELECT now()")
        plan = [
            ("password", password_only, 1),
            ("password + TOTP", with_totp, 1),
            ("password", password_only, args.concurrency),
            ("password + TOTP", with_totp, args.concurrency),
        ]
        for name, pool, _ in plan[:2]:  # warm-up: checked, not timed
            warm = await run_phase(api, pool, name, args.warmup, 1, pids)
            problems += [s.error for s in warm.samples if s.error]
        print("\n" + HEADER)
        for name, pool, in_flight in plan:
            phase = await run_phase(api, pool, name, args.logins, in_flight, pids)
            p99s[name, in_flight] = report(phase)
            problems += [s.error for s in phase.samples if s.error]
            phases.append(phase)
    with_code = args.warmup + args.logins * 2  # as many again without
    got = await audited(conn, tenant, since)
    await conn.close()
    if problem := check_audit(got, with_code * 2, with_code):
        problems.append(problem)
    return summary(args, phases, p99s, problems, with_code * 2)


def summary(
    args: argparse.Namespace,
    phases: list[Phase],
    p99s: dict[tuple[str, int], float],
    problems: list[str],
    logins: int,
) -> int:
    for phase in phases:
        if phase.name == "password + TOTP":
            print(f"  {phase.name}, {phase.in_flight} in flight: {split_line(phase)}")
    waited = sum(p.waited_s for p in phases)
    if waited:
        print(f"  (waited {waited:.1f} s in all for a new TOTP step, left out of logins/s)")
    ratios = ", ".join(
        f"{p99s['password + TOTP', n] / p99s['password', n]:.2f}x at {n} in flight"
        for n in (1, args.concurrency)
    )
    print(f"\nTOTP p99 / password-only p99: {ratios}")
    p99 = p99s["password + TOTP", args.concurrency]
    verdict = "met" if p99 < TARGET_P99_MS else "NOT met"
    print(
        f"password + TOTP p99 at {args.concurrency} concurrent: {p99:.1f} ms: "
        f"target < {TARGET_P99_MS:.0f} ms {verdict}"
    )
    print(f"command: {args.command}")
    if problems:
        print(f"\nFAILED: {len(problems)} problems:")
        for line in problems[:20]:
            print(f"  {line}")
        return 1
    print(f'verified: all {logins} logins (warm-up included) ended at stage "full", each audited')
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=400, help="per phase")
    parser.add_argument("--concurrency", type=int, default=20, help="in flight, phases 3 and 4")
    parser.add_argument("--staff", type=int, default=400, help="accounts of each kind")
    parser.add_argument("--warmup", type=int, default=10, help="logins of each kind, untimed")
    parser.add_argument("--quick", action="store_true", help="16 logins, 4 in flight, 40 staff")
    parser.add_argument("--run-dir", type=Path, default=RUN, help="the stack's .run/<stack>")
    args = parser.parse_args()
    if args.quick:
        args.logins, args.concurrency, args.staff, args.warmup = 16, 4, 40, 2
    if args.staff < args.concurrency:
        parser.error("--staff must be at least --concurrency: each login in flight is a person")
    python = Path(sys.executable)
    if python.is_relative_to(Path.cwd()):
        python = python.relative_to(Path.cwd())
    args.command = shlex.join([str(python), *sys.argv])
    env = load_env(args.run_dir)
    # The API's modules read their settings from the environment: the stack's.
    os.environ.update({k: v for k, v in env.items() if k.startswith("MNETIFI_")})
    os.chdir(ROOT)
    raise SystemExit(asyncio.run(bench(args, env)))


if __name__ == "__main__":
    main()
