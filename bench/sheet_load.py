#!/usr/bin/env python3
"""Does printing a big voucher sheet slow the portal and the M-Pesa callbacks down?

Against a running stack's real uvicorn API, over HTTP: the p99 latency of the captive portal
(GET /api/v1/portal/plans, Host <slug>.<base_domain>) and of STK payment callbacks (POST
/hooks/{tenant}/{token}/stk, each paying a pending purchase) measured twice, --probes each:
once with nothing else going on, then while --printers clients fetch every page of a
--vouchers voucher batch's sheet, over and over. It prints both, and the ratio (target: the
loaded p99 at most TARGET_RATIO times the idle one).

The probes run one at a time (portal, then callback, alternately), so their latency is the
API's answer time and not a queue of our own making. The bench ISP, its router and its pending
purchases are bench/payment_latency.py's (make_shop, make_purchases, callback_body); its
vouchers and sales are deleted when a run starts. Every callback must be answered 200 with
ResultCode 0 and every sheet page 200: anything else is printed and exits 1.

    ./deploy/stack.sh up bench && .venv/bin/python bench/sheet_load.py
    .venv/bin/python bench/sheet_load.py --quick      # 300 vouchers, a few dozen probes
    .venv/bin/python bench/sheet_load.py --run-dir .run/test   # another stack
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from common import ROOT, RUN, dsn_of, load_env
from payment_latency import (
    Purchase,
    Shop,
    callback_body,
    make_purchases,
    make_shop,
    percentile,
    process_cpu_s,
    settle_queries,
)

from api.db import get_engine, unit_of_work
from api.staff import service as staff_service
from api.tenancy import Principal

TARGET_RATIO = 2.0


@dataclass
class Probes:
    portal_ms: list[float] = field(default_factory=list)
    callback_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    api_cpu_s: float = 0.0  # CPU the API process (not its sheet workers) used meanwhile


@dataclass
class Printing:
    pages: int = 0
    errors: list[str] = field(default_factory=list)


async def staff_headers(api: httpx.AsyncClient, shop: Shop) -> dict[str, str]:
    """A fresh staff login of the bench ISP (owner), through the API's own login."""
    email, password = f"sheets-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
    async with unit_of_work() as session:
        await staff_service.create_staff(
            session, Principal.cli(shop.tenant_id), email=email, password=password, role="owner"
        )
    await get_engine().dispose()
    body = {"email": email, "password": password}
    answer = await api.post("/api/v1/auth/login", json=body, headers=shop.host)
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def make_batch(api: httpx.AsyncClient, shop: Shop, auth: dict[str, str], count: int) -> str:
    body = {"plan_id": shop.plan_id, "count": count}
    answer = await api.post("/api/v1/vouchers/batches", json=body, headers=auth, timeout=300)
    answer.raise_for_status()
    return answer.json()["batch_id"]


async def probe(api: httpx.AsyncClient, shop: Shop, purchases: list[Purchase], pid: int) -> Probes:
    out, json_header = Probes(), {"content-type": "application/json"}
    cpu, began = process_cpu_s(pid), time.perf_counter()
    for p in purchases:
        started = time.perf_counter()
        r = await api.get("/api/v1/portal/plans", headers=shop.host)
        out.portal_ms.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200:
            out.errors.append(f"portal answered {r.status_code}")
        body = callback_body(p)  # built before the clock starts
        started = time.perf_counter()
        r = await api.post(shop.hook, content=body, headers=json_header)
        out.callback_ms.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200 or r.json().get("ResultCode") != 0:
            out.errors.append(f"callback answered {r.status_code} {r.text[:200]}")
    out.elapsed_s, out.api_cpu_s = time.perf_counter() - began, process_cpu_s(pid) - cpu
    return out


async def print_forever(api: httpx.AsyncClient, url: str, auth: dict[str, str], got: Printing):
    """Every page of the sheet, first to last, again and again (until cancelled)."""
    page = 1
    while True:
        r = await api.get(url, params={"page": page}, headers=auth, timeout=120)
        if r.status_code != 200:
            got.errors.append(f"sheet page {page} answered {r.status_code} {r.text[:200]}")
            await asyncio.sleep(1)
            continue
        got.pages += 1
        page = page + 1 if 'rel="next"' in r.headers.get("link", "") else 1


def line(label: str, values: list[float]) -> float:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    print(f"  {label:<24} p50 {p50:7.1f}  p99 {p99:7.1f}  max {max(values):7.1f} ms")
    return p99


async def bench(args: argparse.Namespace, env: dict[str, str]) -> int:
    conn = await asyncpg.connect(**dsn_of(env))
    shop = await make_shop(conn, args.run_dir)
    pid = int((args.run_dir / "api.pid").read_text())
    limits = httpx.Limits(max_connections=args.printers + 2)
    async with httpx.AsyncClient(base_url=env["MNETIFI_API_URL"], limits=limits) as api:
        auth = await staff_headers(api, shop)
        batch = await make_batch(api, shop, auth, args.vouchers)
        url = f"/api/v1/vouchers/batches/{batch}/sheet"
        print(
            f"sheet load: {args.vouchers} vouchers, {args.printers} clients printing, "
            f"{args.probes} portal + {args.probes} callback probes per phase", flush=True
        )  # fmt: skip
        idle_purchases = await make_purchases(conn, shop, args.probes)
        loaded_purchases = await make_purchases(conn, shop, args.probes)
        # One page first: the API starts its sheet worker process on the first sheet, and a
        # steady state is what we measure.
        (await api.get(url, headers=auth, timeout=120)).raise_for_status()
        idle = await probe(api, shop, idle_purchases, pid)
        got = Printing()
        printers = [
            asyncio.create_task(print_forever(api, url, auth, got)) for _ in range(args.printers)
        ]
        loaded = await probe(api, shop, loaded_purchases, pid)
        for task in printers:
            task.cancel()
        await asyncio.gather(*printers, return_exceptions=True)
    await settle_queries(conn, shop, idle_purchases + loaded_purchases)
    await conn.close()
    return report(idle, loaded, got)


def cpu_line(p: Probes) -> str:
    share = p.api_cpu_s / p.elapsed_s * 100
    return f"API process CPU {share:.0f}% of a core over {p.elapsed_s:.1f} s"


def report(idle: Probes, loaded: Probes, got: Printing) -> int:
    print(f"idle ({cpu_line(idle)}):")
    idle_p99 = (line("portal plans", idle.portal_ms), line("STK callback", idle.callback_ms))
    print(f"while printing ({got.pages} sheet pages done; {cpu_line(loaded)}):")
    loaded_p99 = (line("portal plans", loaded.portal_ms), line("STK callback", loaded.callback_ms))
    worst = 0.0
    for name, a, b in zip(("portal", "callback"), idle_p99, loaded_p99, strict=True):
        ratio = b / a
        worst = max(worst, ratio)
        print(f"  {name} p99 ratio loaded/idle: {ratio:.2f}x")
    verdict = "met" if worst <= TARGET_RATIO else "NOT MET"
    print(f"target <= {TARGET_RATIO:.0f}x: {verdict}")
    errors = idle.errors + loaded.errors + got.errors
    for error in errors[:20]:
        print(f"  ERROR {error}")
    return 1 if errors else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=10_000, help="size of the printed batch")
    parser.add_argument("--probes", type=int, default=300, help="portal + callback requests")
    parser.add_argument("--printers", type=int, default=2, help="clients fetching sheet pages")
    parser.add_argument("--quick", action="store_true", help="300 vouchers, 30 probes")
    parser.add_argument("--run-dir", type=Path, default=RUN, help="the stack's .run/<stack>")
    args = parser.parse_args()
    if args.quick:
        args.vouchers, args.probes = 300, 30
    env = load_env(args.run_dir)
    # The API's modules read their settings from the environment: the stack's.
    os.environ.update({k: v for k, v in env.items() if k.startswith("MNETIFI_")})
    sys.path.insert(1, str(ROOT))  # deploy.fakes, for payment_latency.make_shop
    os.chdir(ROOT)
    raise SystemExit(asyncio.run(bench(args, env)))


if __name__ == "__main__":
    main()
