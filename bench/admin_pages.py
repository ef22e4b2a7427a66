#!/usr/bin/env python3
"""The dashboard at a big ISP's size: p50/p95 of each list page and the home page.

One ISP (tenant bench, bench/dataset.py's full-policy data set) with --vouchers vouchers and
--sessions radacct rows, plus what makes the money and history pages realistic, made in
PostgreSQL (generate_series, never row by row) and kept between runs:

  payments   --vouchers / 5 M-Pesa payments over the last 25 days (one in five today's), each
             with its grant: 80% bought a new voucher (the voucher is marked sold, with the
             buyer's phone), 20% extended one of those
  audit      --vouchers / 5 audit events of the ISP's owner
  coa        --vouchers / 50 answered Disconnect requests (the sessions page's log)

The ISP's owner (no second factor: the bench signs in with a password) signs in through the
dashboard's own form, then each page is requested --rounds times, one request in flight, in
turn (page A, B, C, ..., A, B, C, ...) so that no page gets a warm cache the others lack. Deep
pages are a keyset cursor halfway down the list. The time is the client's, from sending the
request to the last byte of the answer over loopback (the API reports no server timing); the
sign-in page (GET /admin/login: a form and its token, no query of the ISP's data) is the
baseline in the same run: what a page costs with no list in it. Target: p95 < 150 ms per page.

    ./deploy/stack.sh up bench && .venv/bin/python bench/admin_pages.py
    .venv/bin/python bench/admin_pages.py --tiny                  # tests/test_benches.py
    .venv/bin/python bench/admin_pages.py --run-dir .run/test     # another stack
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import dataset
import httpx
from common import ROOT, RUN, dsn_of, load_env, router_secret

from api.config import get_settings
from api.security import pwd_context

OWNER = "owner@bench.example.com"
PASSWORD = "Kitenge Blue Umbrella 42"  # passes api.passwords
TARGET_P95_MS = 150.0

# What the payments, audit and CoA pages read, for the bench ISP: $1 tenant, $2 payments,
# $3 owner id. Vouchers are numbered in code order (v.ord); payment n buys voucher n - 1 (a new
# voucher) for the first 80%, then extends voucher n - 1 - 0.8 * $2 (an earlier sale).
EXTRAS_SQL = [
    """CREATE TEMP TABLE bench_voucher AS
       SELECT row_number() OVER (ORDER BY id) - 1 AS ord, id, plan_id, code
         FROM voucher WHERE tenant_id = $1""",
    "CREATE INDEX ON bench_voucher (ord)",
    # the first `sold` payments over the last 20 days, then the extensions over the last 4 hours
    """CREATE TEMP TABLE bench_payment AS
       SELECT n, $1::integer AS tenant_id,
              '2547' || lpad(((n::bigint * 48271) % 100000000)::text, 8, '0') AS phone,
              'B' || upper(lpad(to_hex(n), 9, '0')) AS receipt,
              CASE WHEN n <= sold THEN n - 1 ELSE n - 1 - sold END AS ord,
              n <= sold AS new,
              now() - CASE WHEN n <= sold
                           THEN make_interval(secs => 86400 + (sold - n) * 86400.0 * 19 / sold)
                           ELSE make_interval(secs => ($2 - n) * 14400.0 / ($2 - sold)) END
                  AS paid_at
         FROM generate_series(1, $2::integer) AS n, (SELECT $2::integer * 8 / 10 AS sold) s""",
    """INSERT INTO payment (tenant_id, source, receipt, amount, currency, phone, account_reference,
                           shortcode, paid_at, status, created_at)
       SELECT $1, 'c2b', receipt, 1000, 'KES', phone, 'BENCH', '600000', paid_at, 'granted', paid_at
         FROM bench_payment ORDER BY n""",
    """INSERT INTO payment_grant (tenant_id, payment_id, voucher_id, plan_id, kind, amount,
                                 duration_seconds, created_at)
       SELECT $1, p.id, v.id, v.plan_id, CASE WHEN b.new THEN 'new' ELSE 'extend' END, 1000,
              30 * 86400, p.paid_at
         FROM bench_payment b
         JOIN payment p ON p.tenant_id = $1 AND p.receipt = b.receipt
         JOIN bench_voucher v ON v.ord = b.ord
        ORDER BY b.n""",
    """UPDATE voucher v SET source = 'payment', phone = b.phone
         FROM bench_payment b JOIN bench_voucher bv ON bv.ord = b.ord
        WHERE b.new AND v.id = bv.id""",
    # the newest audit rows last, as they are written
    """INSERT INTO audit_event (tenant_id, actor_id, actor, action, object_type, object_id,
                               details, ip, user_agent, created_at)
       SELECT $1, $3, '"""
    + OWNER
    + """',
              (ARRAY['voucher.revoke', 'voucher.update', 'plan.update', 'session.disconnect',
                     'voucher.batch_create'])[1 + n % 5], 'voucher', v.code, '{}',
              '10.9.0.1', 'bench', now() - make_interval(secs => ($2 - n) * 86400.0 * 25 / $2)
         FROM generate_series(1, $2::integer) AS n
         JOIN bench_voucher v ON v.ord = n % (SELECT count(*) FROM bench_voucher)""",
    """INSERT INTO coa_request (tenant_id, router_id, voucher_id, kind, reason, attributes,
                               status, attempts, rounds, actor, created_at, finished_at)
       SELECT $1, (SELECT id FROM router WHERE tenant_id = $1 LIMIT 1), v.id, 'disconnect',
              'admin', '{}', 'ack', 1, 1, '"""
    + OWNER
    + """',
              now() - make_interval(secs => ($2 - n) * 86400.0 * 25 / $2),
              now() - make_interval(secs => ($2 - n) * 86400.0 * 25 / $2)
         FROM generate_series(1, $2::integer / 10) AS n
         JOIN bench_voucher v ON v.ord = n""",
]


@dataclass
class Page:
    name: str
    path: str
    times_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the data set


async def owner(conn: asyncpg.Connection, tenant: int) -> int:
    """The ISP's owner, with the bench's password and no second factor."""
    return await conn.fetchval(
        "INSERT INTO staff_user (tenant_id, email, password_hash, role) VALUES ($1, $2, $3, "
        "'owner') ON CONFLICT (tenant_id, email) DO UPDATE SET active = true RETURNING id",
        tenant,
        OWNER,
        pwd_context.hash(PASSWORD),
    )


async def load(dsn: dict, args: argparse.Namespace) -> int:
    """The bench ISP's id, its data set loaded (or reused when it has this size)."""
    conn = await asyncpg.connect(**dsn)
    try:
        size = f"Bench ISP {args.vouchers} vouchers {args.sessions} sessions"
        name = await conn.fetchval("SELECT name FROM tenant WHERE slug = 'bench'")
        if args.reload or not (name or "").startswith(size):
            began = time.perf_counter()
            print(f"loading {args.vouchers:,} vouchers, {args.sessions:,} sessions", flush=True)
            secret = router_secret(args.run_dir)
            for attempt in range(3):
                try:
                    await dataset.load_ours(dsn, args.vouchers, args.sessions, secret, True)
                    break
                except asyncpg.DeadlockDetectedError:
                    # The stack's worker sweeping the old data set's live sessions while the
                    # load empties their tables: the load goes again.
                    if attempt == 2:
                        raise
            print(f"  loaded in {time.perf_counter() - began:.0f} s", flush=True)
        tenant = await conn.fetchval("SELECT id FROM tenant WHERE slug = 'bench'")
        # The data set's live sessions again (the worker closes them as stale between runs).
        await dataset.freshen(conn)
        await conn.execute(
            "UPDATE tenant SET require_second_factor = false, active = true WHERE id = $1", tenant
        )
        owner_id = await owner(conn, tenant)
        payments = args.vouchers // 5
        have = await conn.fetchval("SELECT count(*) FROM payment WHERE tenant_id = $1", tenant)
        if have != payments:
            began = time.perf_counter()
            async with conn.transaction():
                for sql in (
                    "DELETE FROM payment_grant WHERE tenant_id = $1",
                    "DELETE FROM payment WHERE tenant_id = $1",
                    "DELETE FROM coa_request WHERE tenant_id = $1",
                    "UPDATE voucher SET source = 'batch', phone = NULL "
                    " WHERE tenant_id = $1 AND source = 'payment'",
                ):
                    await conn.execute(sql, tenant)
                values = (tenant, payments, owner_id)
                for sql in EXTRAS_SQL:
                    # $1..$n of the three, n the highest the statement names
                    used = max((int(n) for n in re.findall(r"\$(\d)", sql)), default=0)
                    await conn.execute(sql, *values[:used])
            await conn.execute("VACUUM (ANALYZE) voucher, payment, payment_grant, audit_event")
            print(
                f"  {payments:,} payments, {payments:,} audit events, {payments // 10:,} CoA "
                f"requests in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
        return tenant
    finally:
        await conn.close()


# ---------------------------------------------------------------- the pages


async def cursors(dsn: dict, tenant: int) -> dict[str, str]:
    """Keyset cursors halfway down each long list, and a sold voucher to search for."""
    conn = await asyncpg.connect(**dsn)
    try:
        row = await conn.fetchrow(
            "SELECT v.code, p.phone, p.receipt FROM payment p "
            "JOIN payment_grant g ON g.payment_id = p.id JOIN voucher v ON v.id = g.voucher_id "
            "WHERE p.tenant_id = $1 AND g.kind = 'extend' ORDER BY p.id LIMIT 1",
            tenant,
        )
        half = {
            "voucher": "SELECT id FROM voucher WHERE tenant_id = $1 "
            "ORDER BY issued_at DESC, id DESC OFFSET (SELECT count(*) / 2 FROM voucher "
            "WHERE tenant_id = $1) LIMIT 1",
            "session": "SELECT radacctid FROM radacct WHERE tenant_id = $1 "
            "ORDER BY acctstarttime DESC, radacctid DESC OFFSET (SELECT count(*) / 2 FROM radacct "
            "WHERE tenant_id = $1) LIMIT 1",
            "payment": "SELECT id FROM payment WHERE tenant_id = $1 ORDER BY id DESC "
            "OFFSET (SELECT count(*) / 2 FROM payment WHERE tenant_id = $1) LIMIT 1",
            "audit": "SELECT id FROM audit_event WHERE tenant_id = $1 ORDER BY id DESC "
            "OFFSET (SELECT count(*) / 2 FROM audit_event WHERE tenant_id = $1) LIMIT 1",
        }
        found = {name: str(await conn.fetchval(sql, tenant)) for name, sql in half.items()}
        local = "0" + row["phone"][3:]
        return found | {"code": row["code"], "phone": local, "receipt": row["receipt"]}
    finally:
        await conn.close()


def pages(c: dict[str, str]) -> list[Page]:
    return [
        Page("baseline: sign-in page", "/admin/login"),
        Page("home", "/admin/"),
        Page("vouchers", "/admin/vouchers"),
        Page("vouchers, deep page", f"/admin/vouchers?before={c['voucher']}"),
        Page("voucher search: code", f"/admin/vouchers?q={c['code'].lower()}"),
        Page("voucher search: phone", f"/admin/vouchers?q={c['phone']}"),
        Page("voucher search: receipt", f"/admin/vouchers?q={c['receipt']}"),
        Page("voucher (sessions, usage)", f"/admin/vouchers/{c['code']}"),
        Page("sessions online", "/admin/sessions"),
        Page("sessions, all", "/admin/sessions?all=1"),
        Page("sessions, all, deep page", f"/admin/sessions?all=1&before={c['session']}"),
        Page("sessions of a voucher", f"/admin/sessions?all=1&voucher={c['code']}"),
        Page("payments", "/admin/payments"),
        Page("payments, deep page", f"/admin/payments?before={c['payment']}"),
        Page("audit", "/admin/audit"),
        Page("audit, deep page", f"/admin/audit?before={c['audit']}"),
        Page("packages", "/admin/plans"),
        Page("promos", "/admin/promos"),
        Page("routers", "/admin/routers"),
        Page("staff", "/admin/staff"),
    ]


async def sign_in(api: httpx.AsyncClient, host: dict[str, str]) -> None:
    form = await api.get("/admin/login", headers=host)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        raise SystemExit(f"the sign-in page answered {form.status_code}")
    body = {"email": OWNER, "password": PASSWORD, "csrf_token": token.group(1)}
    done = await api.post("/admin/login", data=body, headers=host)
    if done.status_code != 303 or done.headers.get("location") != "/admin/":
        raise SystemExit(f"signing in answered {done.status_code}: {done.text[:300]}")


async def measure(api: httpx.AsyncClient, host: dict[str, str], page: Page) -> None:
    began = time.perf_counter()
    try:
        answer = await api.get(page.path, headers=host)
        elapsed = (time.perf_counter() - began) * 1000
    except httpx.HTTPError as exc:
        page.errors.append(f"{type(exc).__name__}: {exc}")
        return
    if answer.status_code != 200:
        page.errors.append(f"{answer.status_code}: {answer.text[:200]}")
    else:
        page.times_ms.append(elapsed)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank; nan when there is nothing."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def report(measured: list[Page], args: argparse.Namespace) -> int:
    base = percentile(measured[0].times_ms, 0.5)
    print(f"\n  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'p50/base':>9}  target")
    slow, problems = [], []
    for page in measured:
        p50, p95 = percentile(page.times_ms, 0.5), percentile(page.times_ms, 0.95)
        verdict = "met" if p95 < TARGET_P95_MS else "NOT met"
        if p95 >= TARGET_P95_MS:
            slow.append(page.name)
        print(
            f"  {page.name:<28} {p50:8.1f} {p95:8.1f} {max(page.times_ms, default=math.nan):8.1f} "
            f"{p50 / base:8.1f}x  {verdict}"
        )
        problems += [f"{page.name} ({page.path}): {e}" for e in page.errors[:3]]
    print(
        f"\nclient time, one request in flight, over loopback (the API reports no server time); "
        f"{args.rounds} rounds; target p95 < {TARGET_P95_MS:.0f} ms per page: "
        + ("met by every page" if not slow else f"NOT met by {', '.join(slow)}")
    )
    print(f"command: {args.command}")
    if problems:
        print(f"\nFAILED: {len(problems)} problems:")
        for line in problems[:20]:
            print(f"  {line}")
        return 1
    return 0


async def bench(args: argparse.Namespace, env: dict[str, str]) -> int:
    dsn = dsn_of(env)
    tenant = await load(dsn, args)
    found = await cursors(dsn, tenant)
    measured = pages(found)
    host = {"host": f"bench.{get_settings().base_domain}"}
    print(
        f"admin pages: tenant bench, {args.vouchers:,} vouchers, {args.sessions:,} radacct rows, "
        f"{args.vouchers // 5:,} payments, {os.cpu_count()} cores shared by all processes",
        flush=True,
    )
    async with httpx.AsyncClient(base_url=env["MNETIFI_API_URL"], timeout=30.0) as api:
        await sign_in(api, host)
        for page in measured:  # warm-up: checked, not timed
            await measure(api, host, page)
            page.times_ms.clear()
        for _ in range(args.rounds):
            for page in measured:
                await measure(api, host, page)
    return report(measured, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000_000, help="radacct rows")
    parser.add_argument("--rounds", type=int, default=30, help="requests of each page")
    parser.add_argument("--reload", action="store_true", help="rebuild the data set")
    parser.add_argument("--tiny", action="store_true", help="2,000 vouchers, 20,000 sessions")
    parser.add_argument("--run-dir", type=Path, default=RUN, help="the stack's .run/<stack>")
    args = parser.parse_args()
    if args.tiny:
        args.vouchers, args.sessions, args.rounds = 2000, 20_000, 3
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
