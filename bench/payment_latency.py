#!/usr/bin/env python3
"""Paid to online: from Daraja's STK callback to the voucher accepted by FreeRADIUS.

Per payment, four instants on this process's monotonic clock:

  t0  just before the STK callback POST to /hooks/{tenant}/{token}/stk (from 127.0.0.1,
      which the stack allowlists), with a body shaped exactly like Daraja's
  t1  the callback answered 200 (the API has stored it, recorded the payment and created the
      voucher in one transaction, and committed)
  t2  the portal's GET /api/v1/portal/purchases/{id} (Host <slug>.<base_domain>) returned the
      voucher code
  t3  FreeRADIUS answered Access-Accept to a RouterOS-shaped hotspot login (PAP, User-Name =
      User-Password = the code) sent from a registered router address

The purchases are pending stk_request rows written straight into SQL before the clock starts
(as the STK push would have left them), so the fake Daraja plays no part: the measurement
starts at the callback and nothing else. Two httpx clients keep their connections alive, one
playing Daraja and one the customer's browser; RADIUS goes out from one UDP socket bound to
the router's address, packets built as bench/loadgen.py builds them, resent after --radius-timeout
(RouterOS's default 300 ms; the latency still runs from the first send, as the router waits).

After --warmup payments (checked, not timed), --payments payments run one at a time, then
--payments more with --concurrency in flight (closed loop). Each phase prints p50/p90/p99/max
(nearest rank) of every stage and of t3 - t0, the CPU each process spent per payment (run one
at a time, this client's CPU between t0 and t3 is what it adds to the figures), and is then
checked in SQL:
one payment, one grant, one voucher (the code the portal showed), activated by its login, one
callback judged ok. A payment that fails any of it is printed; any failure exits 1.

The bench ISP (tenant paybench, router 127.77.0.3) is kept between runs; its earlier sales are
deleted when a run starts. Its purchases have their STK Query (due 30 s after a paid callback)
cancelled after each phase: Daraja never issued their CheckoutRequestIDs, so asking it would
only be noise.

    ./deploy/stack.sh up bench && .venv/bin/python bench/payment_latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import httpx
import loadgen
from common import (
    ROOT,
    RUN,
    dsn_of,
    load_env,
    ours_radius_pid,
    postmaster_pid,
    router_secret,
    server_cpu,
)
from radius_auth import machine_busy_s
from radius_client import Radius, RadiusLost

# The API's modules read their settings lazily: main() loads the bench stack's first.
from api import crypto
from api.config import get_settings
from api.db import get_engine, unit_of_work
from api.payments import repository, service
from api.payments.schemas import PaymentSettingsIn
from api.payments.stk import new_reference
from api.tenancy import Principal
from api.vouchers.schemas import ALPHABET

ROUTER = "127.77.0.3"  # this bench's router; 127.77.0.1 and .2 are radius_auth.py's
SLUG, PRICE = "paybench", 20
RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
TARGET_P99_MS = 300.0
NAIROBI = timezone(timedelta(hours=3))  # Daraja's TransactionDate is Nairobi time


@dataclass
class Shop:
    tenant_id: int
    plan_id: int
    hook: str  # the callback path, with the ISP's secret token
    host: dict[str, str]  # the portal's Host header


@dataclass
class Purchase:
    n: int
    public_id: str
    checkout_id: str
    phone: str
    receipt: str
    mac: str


@dataclass
class Sample:
    purchase: Purchase
    t: list[int] = field(default_factory=list)  # t0..t3 in ns, as far as it got
    code: str | None = None
    client_cpu_ns: int = 0  # this process's CPU between t0 and t3
    retransmits: int = 0
    error: str | None = None


@dataclass
class Phase:
    name: str
    in_flight: int
    samples: list[Sample]
    elapsed_s: float
    cpu_ms: dict[str, float]  # per payment, by process
    other_ms: float  # per payment, everything else on the machine


# ---------------------------------------------------------------- the ISP and its purchases


async def make_shop(conn: asyncpg.Connection, run: Path = RUN) -> Shop:
    """The bench ISP (kept between runs, its sales are not): tenant, plan, router, and an M-Pesa
    account saved through the API's own service (as tests/payshop.py does), whose callback
    token is read back."""
    # The fake Daraja's demo app, by name (main() puts the repository on sys.path).
    from deploy.fakes.daraja_state import (  # noqa: PLC0415
        DEMO_CONSUMER_KEY,
        DEMO_CONSUMER_SECRET,
        SANDBOX_PASSKEY,
        SANDBOX_SHORTCODE,
    )

    tenant = await conn.fetchval(
        "INSERT INTO tenant (slug, name) VALUES ($1, 'Payment latency bench') "
        "ON CONFLICT (slug) DO UPDATE SET active = true RETURNING id",
        SLUG,
    )
    plan = await conn.fetchval(
        "SELECT id FROM plan WHERE tenant_id = $1 AND name = '1 hour'", tenant
    ) or await conn.fetchval(
        "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, download_kbps) "
        "VALUES ($1, '1 hour', $2, 3600, 2000, 4000) RETURNING id",
        tenant,
        PRICE,
    )
    await forget_earlier_runs(conn, tenant)
    # A running FreeRADIUS keeps a learned router's secret: keep the row, update it.
    await conn.execute(
        "INSERT INTO router (tenant_id, name, ip_address, secret) VALUES ($1, 'pay', $2, $3) "
        "ON CONFLICT (ip_address) DO UPDATE SET secret = excluded.secret",
        tenant,
        ROUTER,
        router_secret(run),
    )
    async with unit_of_work() as session:
        row = await repository.settings_row(session, tenant)
        if row is None:
            data = PaymentSettingsIn(
                environment="sandbox",
                account_type="paybill",
                shortcode=SANDBOX_SHORTCODE,
                consumer_key=DEMO_CONSUMER_KEY,
                consumer_secret=DEMO_CONSUMER_SECRET,
                passkey=SANDBOX_PASSKEY,
            )
            await service.save_settings(session, Principal.cli(tenant), data)
            row = await repository.settings_row(session, tenant)
        token = crypto.decrypt(row.callback_token_enc)
    await get_engine().dispose()
    host = {"host": f"{SLUG}.{get_settings().base_domain}"}
    return Shop(tenant, plan, f"/hooks/{tenant}/{token}/stk", host)


async def forget_earlier_runs(conn: asyncpg.Connection, tenant: int) -> None:
    """Every run starts from the same tables: the bench ISP's earlier sales go (children
    first; voucher_device follows its vouchers)."""
    async with conn.transaction():
        for table in ("payment_event", "payment_grant", "payment", "stk_request", "radpostauth"):
            await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM voucher WHERE tenant_id = $1", tenant)


def _draw(alphabet: str, k: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(k))


async def make_purchases(conn: asyncpg.Connection, shop: Shop, count: int) -> list[Purchase]:
    """`count` pending purchases, as the STK push leaves them once Daraja has accepted it."""
    tag = _draw(ALPHABET, 6)
    phones = [f"2547{secrets.randbelow(10**8):08d}" for _ in range(count)]
    refs = [new_reference() for _ in range(count)]
    checkouts = [f"ws_CO_bench_{i}_{tag}" for i in range(count)]
    merchants = [f"bench-{tag}-{i}" for i in range(count)]
    rows = await conn.fetch(
        "INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference, "
        "                         checkout_request_id, merchant_request_id) "
        "SELECT $1, $2, u.phone, $3, 'paybill', u.ref, u.checkout, u.merchant "
        "  FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) "
        "       AS u(phone, ref, checkout, merchant) "
        "RETURNING public_id, checkout_request_id, phone",
        *(shop.tenant_id, shop.plan_id, PRICE, phones, refs, checkouts, merchants),
    )
    by_checkout = {r["checkout_request_id"]: r for r in rows}
    out = []
    for i, checkout in enumerate(checkouts):
        row = by_checkout[checkout]
        mac = ":".join(f"{b:02X}" for b in (0x02, 0xBE, *secrets.token_bytes(4)))
        receipt = "U" + _draw(RECEIPT_ALPHABET, 9)
        out.append(Purchase(i, str(row["public_id"]), checkout, row["phone"], receipt, mac))
    return out


def callback_body(p: Purchase) -> bytes:
    """An STK success callback exactly as Daraja sends it (tests/payshop.py stk_body)."""
    paid = datetime.now(NAIROBI).strftime("%Y%m%d%H%M%S")
    items = [
        {"Name": "Amount", "Value": float(PRICE)},
        {"Name": "MpesaReceiptNumber", "Value": p.receipt},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": int(paid)},
        {"Name": "PhoneNumber", "Value": int(p.phone)},
    ]
    callback = {
        "MerchantRequestID": f"29115-{p.n}",
        "CheckoutRequestID": p.checkout_id,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": items},
    }
    return json.dumps({"Body": {"stkCallback": callback}}).encode()


# ---------------------------------------------------------------- RADIUS, the router's side


# ---------------------------------------------------------------- one payment, one phase


@dataclass
class Clients:
    shop: Shop
    daraja: httpx.AsyncClient
    browser: httpx.AsyncClient
    radius: Radius


async def pay(c: Clients, p: Purchase) -> Sample:
    body = callback_body(p)  # built before the clock starts
    s = Sample(p)
    headers = {"content-type": "application/json"}
    cpu = time.process_time_ns()
    s.t.append(time.perf_counter_ns())
    try:
        r = await c.daraja.post(c.shop.hook, content=body, headers=headers)
        s.t.append(time.perf_counter_ns())
        if r.status_code != 200 or r.json().get("ResultCode") != 0:
            s.error = f"callback answered {r.status_code} {r.text[:200]}"
            return s
        r = await c.browser.get(f"/api/v1/portal/purchases/{p.public_id}", headers=c.shop.host)
        s.t.append(time.perf_counter_ns())
        voucher = r.json().get("voucher") if r.status_code == 200 else None
        if not voucher:
            s.error = f"portal answered {r.status_code} {r.text[:200]}"
            return s
        s.code = voucher["code"]
        reply, s.retransmits = await c.radius.login(s.code, p.mac, p.n)
        s.t.append(time.perf_counter_ns())
        s.client_cpu_ns = time.process_time_ns() - cpu
        if reply != loadgen.ACCESS_ACCEPT:
            s.error = f"RADIUS answered {loadgen.CODE_NAMES.get(reply, reply)}, not accept"
    except RadiusLost as exc:
        s.error, s.retransmits = f"RADIUS: {exc}", exc.retransmits
    except (httpx.HTTPError, ValueError) as exc:
        s.error = f"{type(exc).__name__}: {exc}"
    return s


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_now(pids: dict[str, int]) -> dict[str, float]:
    servers = server_cpu(pids["FreeRADIUS"], pids["PostgreSQL"])
    return {
        "API": process_cpu_s(pids["API"]),
        "PostgreSQL": servers.postgres_s,
        "FreeRADIUS": servers.radius_s,
        "this client": time.process_time(),
        "machine": machine_busy_s(),
    }


async def run_phase(
    c: Clients, name: str, purchases: list[Purchase], in_flight: int, pids: dict[str, int]
) -> Phase:
    todo, samples = iter(purchases), []

    async def worker() -> None:
        for p in todo:  # shared: each purchase is taken once
            samples.append(await pay(c, p))

    before, started = cpu_now(pids), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed, after = time.perf_counter() - started, cpu_now(pids)
    used = {k: (after[k] - before[k]) * 1000 / len(purchases) for k in after}
    other = used.pop("machine") - sum(used.values())
    return Phase(name, in_flight, samples, elapsed, used, max(other, 0.0))


# ---------------------------------------------------------------- checking and reporting

CHECK_SQL = """
SELECT r.checkout_request_id AS checkout, r.status, r.receipt,
       (SELECT count(*) FROM payment p WHERE p.stk_request_id = r.id) AS payments,
       (SELECT count(*) FROM payment p
         WHERE p.stk_request_id = r.id AND p.status = 'granted' AND p.receipt = r.receipt)
           AS granted,
       (SELECT count(*) FROM payment_event e
         WHERE e.stk_request_id = r.id AND e.verdict = 'ok') AS ok_events,
       g.codes, g.active
  FROM stk_request r
 CROSS JOIN LATERAL (
       SELECT coalesce(array_agg(v.code), '{}') AS codes,
              coalesce(bool_and(v.status = 'active' AND v.first_used_at IS NOT NULL), false)
                  AS active
         FROM payment p
         JOIN payment_grant pg ON pg.payment_id = p.id
         JOIN voucher v ON v.id = pg.voucher_id
        WHERE p.stk_request_id = r.id) g
 WHERE r.tenant_id = $1 AND r.checkout_request_id = ANY($2::text[])
"""


async def check(conn: asyncpg.Connection, shop: Shop, samples: list[Sample]) -> list[str]:
    """What is wrong with each payment, client side and in the database; [] when all is well."""
    ids = [s.purchase.checkout_id for s in samples]
    rows = {r["checkout"]: r for r in await conn.fetch(CHECK_SQL, shop.tenant_id, ids)}
    codes = [s.code for s in samples if s.code]
    accepts = dict(
        await conn.fetch(
            "SELECT username, count(*) FROM radpostauth WHERE tenant_id = $1 "
            "AND reply = 'Access-Accept' AND username = ANY($2::text[]) GROUP BY username",
            shop.tenant_id,
            codes,
        )
    )
    problems = []
    for s in samples:
        r, why = rows.get(s.purchase.checkout_id), []
        if s.error:
            why.append(s.error)
        if r is None:
            why.append("purchase row missing")
        else:
            if (r["status"], r["receipt"]) != ("paid", s.purchase.receipt):
                why.append(f"purchase {r['status']} with receipt {r['receipt']}")
            if (r["payments"], r["granted"], r["ok_events"]) != (1, 1, 1):
                why.append(
                    f"{r['payments']} payments ({r['granted']} granted with the receipt), "
                    f"{r['ok_events']} callbacks judged ok"
                )
            if len(r["codes"]) != 1:
                why.append(f"{len(r['codes'])} vouchers")
            elif s.code and r["codes"][0] != s.code:
                why.append(f"voucher {r['codes'][0]} but the portal showed {s.code}")
            elif not r["active"]:
                why.append("voucher not activated by a login")
        if s.code and accepts.get(s.code, 0) != 1:
            why.append(f"{accepts.get(s.code, 0)} Access-Accepts logged for {s.code}")
        if why:
            problems.append(f"payment {s.purchase.checkout_id}: " + "; ".join(why))
    return problems


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


STAGES = [
    ("callback POST -> 200 (t1-t0)", 0, 1),
    ("portal GET -> voucher (t2-t1)", 1, 2),
    ("Access-Request -> Accept (t3-t2)", 2, 3),
    ("end to end (t3-t0)", 0, 3),
]


def report(phase: Phase, failures: int) -> float:
    """Prints the phase; returns its end-to-end p99 in ms (nan if nothing got through)."""
    done = [s for s in phase.samples if s.error is None]
    n = len(phase.samples)
    print(
        f"\n{phase.name}: {n} payments, {phase.in_flight} in flight, {phase.elapsed_s:.2f} s "
        f"({n / phase.elapsed_s:.0f} payments/s), {failures} failed"
    )
    print(f"  {'ms':<34} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}")
    p99 = math.nan
    for label, a, b in STAGES:
        values = [(s.t[b] - s.t[a]) / 1e6 for s in done]
        if not values:
            continue
        qs = [percentile(values, q) for q in (0.5, 0.9, 0.99)] + [max(values)]
        print(f"  {label:<34} " + " ".join(f"{v:7.1f}" for v in qs))
        p99 = qs[2]
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in phase.cpu_ms.items())
    busy = phase.cpu_ms["this client"] * n / 1000 / phase.elapsed_s * 100
    print(f"  CPU ms per payment: {cpu}, other processes {phase.other_ms:.1f}")
    if phase.in_flight == 1 and done:
        # One payment at a time: the client's CPU between t0 and t3 is time inside the figures.
        inside = percentile([s.client_cpu_ns / 1e6 for s in done], 0.5)
        print(f"  client overhead: its CPU between t0 and t3 is {inside:.1f} ms (p50)")
    print(
        f"  this client was busy {busy:.0f}% of one core; "
        f"RADIUS retransmissions {sum(s.retransmits for s in phase.samples)}"
    )
    return p99


async def settle_queries(conn: asyncpg.Connection, shop: Shop, purchases: list[Purchase]) -> None:
    await conn.execute(
        "UPDATE stk_request SET next_query_at = NULL "
        "WHERE tenant_id = $1 AND checkout_request_id = ANY($2::text[])",
        shop.tenant_id,
        [p.checkout_id for p in purchases],
    )


# ---------------------------------------------------------------- main


async def bench(args: argparse.Namespace, env: dict[str, str]) -> int:
    dsn = dsn_of(env)
    conn = await asyncpg.connect(**dsn)
    shop = await make_shop(conn)
    server = ("127.0.0.1", int(env["MNETIFI_RADIUS_AUTH_PORT"]))
    radius = await Radius.open(ROUTER, server, router_secret().encode(), args.radius_timeout)
    await radius.warm_up()
    pids = {
        "API": int((RUN / "api.pid").read_text()),
        "PostgreSQL": postmaster_pid(dsn["port"]),
        "FreeRADIUS": ours_radius_pid(),
    }
    print(
        f"payment latency: STK callback -> voucher accepted by FreeRADIUS (tenant {SLUG}, "
        f"router {ROUTER}, {os.cpu_count()} cores shared by all processes)",
        flush=True,
    )
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    url, timeout = env["MNETIFI_PUBLIC_URL"], httpx.Timeout(10.0)
    p99s, problems = {}, []
    async with (
        httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as daraja,
        httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as browser,
    ):
        clients = Clients(shop, daraja, browser, radius)
        plan = [("warm-up", args.warmup, 1), ("sequential", args.payments, 1)]
        plan.append(("concurrent", args.payments, args.concurrency))
        for name, count, in_flight in plan:
            if not count:
                continue
            purchases = await make_purchases(conn, shop, count)
            phase = await run_phase(clients, name, purchases, in_flight, pids)
            await settle_queries(conn, shop, purchases)
            found = await check(conn, shop, phase.samples)
            problems += found
            if name != "warm-up":
                p99s[name] = report(phase, len(found))
    radius.transport.close()
    await conn.close()
    return summary(args, p99s, problems)


def summary(args: argparse.Namespace, p99s: dict[str, float], problems: list[str]) -> int:
    verdicts = ", ".join(f"{name} {p99:.1f} ms" for name, p99 in p99s.items())
    met = all(p99 < TARGET_P99_MS for p99 in p99s.values())
    print(f"\nend-to-end p99 ({verdicts}): target < {TARGET_P99_MS:.0f} ms " + (
        "met" if met else "NOT MET"))  # fmt: skip
    if problems:
        print(f"\nFAILED: {len(problems)} payments did not end in one accepted voucher:")
        for line in problems[:20]:
            print(f"  {line}")
        return 1
    total = args.warmup + args.payments * 2
    print(f"verified: all {total} payments (warm-up included) gave exactly one voucher, accepted")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200, help="per phase")
    parser.add_argument("--concurrency", type=int, default=10, help="in flight, second phase")
    parser.add_argument("--warmup", type=int, default=10, help="payments before the clock")
    parser.add_argument("--radius-timeout", type=float, default=0.3, help="resend after (s)")
    args = parser.parse_args()
    env = load_env()
    # The API's modules read their settings from the environment: the bench stack's.
    os.environ.update({k: v for k, v in env.items() if k.startswith("MNETIFI_")})
    sys.path.insert(1, str(ROOT))  # deploy.fakes: the fake Daraja's demo credentials
    os.chdir(ROOT)
    raise SystemExit(asyncio.run(bench(args, env)))


if __name__ == "__main__":
    main()
