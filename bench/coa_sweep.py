#!/usr/bin/env python3
"""What the worker's safety-net scan costs PostgreSQL: the live sessions of vouchers that can no
longer be used (api/sessions/sweeps.py outliving_sessions), run every 2 s by sweep_coa.

On the bench data set (bench/dataset.py: --vouchers vouchers, one live session per 20 of them,
half the vouchers with a time or data quota), the scan as it is now is timed against the query
it replaced, which called voucher_state(voucher, days) for each live session of a voucher that
could have ended; rounds alternate, the median round is shown. Both must find the same sessions.

It then prints the share of one core each keeps busy: the old scan ran every 2 s whatever it
cost; the new one rests after each scan in proportion to its cost (api/sessions/tasks.py
SCAN_SHARE), so its share is bounded however many sessions are live.

    ./deploy/stack.sh up bench && .venv/bin/python bench/coa_sweep.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import asyncpg
import dataset
from common import ROOT, dsn_of, load_env, router_secret

from api.sessions.sweeps import OUTLIVING_SQL
from api.sessions.tasks import SCAN_SHARE, scan_rest_ms

CADENCE_S = 2.0  # sweep_coa's cron: every 2 s

# The scan before this change: voucher_state(voucher, days), the PL/pgSQL wrapper that sums the
# voucher's usage itself, called once per live session of a voucher that could have ended.
BEFORE_SQL = """
WITH outliving AS (
    SELECT a.radacctid, a.tenant_id, a.voucher_id, a.username, a.acctsessionid,
           host(a.framedipaddress) AS framed_ip, a.callingstationid,
           r.id AS router_id, s.state
      FROM radacct a
      JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
      JOIN voucher v ON v.id = a.voucher_id
      JOIN tenant t ON t.id = a.tenant_id
     CROSS JOIN LATERAL voucher_state(v, t.unused_voucher_days) s
     WHERE a.acctstoptime IS NULL
       AND COALESCE(a.acctupdatetime, a.acctstarttime)
           > now() - session_grace(t.acct_interim_interval)
       AND (v.status = 'revoked' OR v.expires_at <= now()
            OR v.time_quota_seconds IS NOT NULL OR v.data_quota_bytes IS NOT NULL)
       AND s.state IN ('expired', 'exhausted', 'revoked')
       AND NOT EXISTS (SELECT 1 FROM coa_request c
                        WHERE c.radacct_id = a.radacctid
                          AND c.kind = 'disconnect'
                          AND (c.status = 'pending'
                               OR c.created_at > now() - interval '10 minutes'))
)
SELECT * FROM outliving LIMIT 500
"""


async def scan_ms(conn: asyncpg.Connection, query: str) -> tuple[float, set[int]]:
    started = time.perf_counter()
    rows = await conn.fetch(query)
    return (time.perf_counter() - started) * 1000, {r["radacctid"] for r in rows}


async def run(args: argparse.Namespace) -> int:
    dsn = dsn_of(load_env())
    label, _ = await dataset.load_ours(dsn, args.vouchers, args.sessions, router_secret(), False)
    conn = await asyncpg.connect(**dsn)
    try:
        live = await conn.fetchval(
            "SELECT count(*) FROM radacct a JOIN tenant t ON t.id = a.tenant_id "
            " WHERE a.acctstoptime IS NULL "
            "   AND COALESCE(a.acctupdatetime, a.acctstarttime) "
            "       > now() - session_grace(t.acct_interim_interval)"
        )
        # Some sessions for the scans to find, in a transaction rolled back at the end (the
        # stack's worker never sees them): vouchers revoked, expired and used up, 1% each.
        ended = conn.transaction()
        await ended.start()
        some = max(live // 100, 1)
        for change in (
            "status = 'revoked'",
            "expires_at = now() - interval '1 minute'",
            "time_quota_seconds = 60",
        ):
            await conn.execute(
                f"UPDATE voucher SET {change} WHERE id IN ("  # noqa: S608 (constant SQL)
                "  SELECT voucher_id FROM radacct WHERE acctstoptime IS NULL"
                "     AND nasportid = 'bridge-open' AND voucher_id IN ("
                "         SELECT id FROM voucher WHERE status <> 'revoked'"
                "            AND expires_at > now() AND time_quota_seconds IS DISTINCT FROM 60)"
                "   ORDER BY random() LIMIT $1)",
                some,
            )
        queries = {"before": BEFORE_SQL, "now": OUTLIVING_SQL}
        times: dict[str, list[float]] = {name: [] for name in queries}
        found: dict[str, set[int]] = {}
        for query in queries.values():  # warm-up: plans, caches
            await scan_ms(conn, query)
        for i in range(args.rounds):
            for name in list(queries) if i % 2 == 0 else list(queries)[::-1]:
                ms, found[name] = await scan_ms(conn, queries[name])
                times[name].append(ms)
        await ended.rollback()
    finally:
        await conn.close()
    before, now = (statistics.median(times[n]) for n in ("before", "now"))
    print(f"data set: {label}; {live:,} live sessions, {args.rounds} rounds, median shown")
    print(f"{'scan':<8} {'ms':>8} {'us per live session':>20} {'sessions found':>15}")
    for name, ms in (("before", before), ("now", now)):
        print(f"{name:<8} {ms:>8.1f} {ms * 1000 / max(live, 1):>20.1f} {len(found[name]):>15}")
    print(f"\nscan now/before: {now / before:.2f}x the time")
    # The share of one core: the old scan every CADENCE_S whatever it cost; the new one resting
    # scan_rest_ms() after each scan, on the same cadence.
    old_share = min(before / 1000 / CADENCE_S, 1.0)
    period_s = max(CADENCE_S, now / 1000 + scan_rest_ms(now / 1000) / 1000)
    new_share = now / 1000 / period_s
    print(
        f"one core kept busy by the scan: before {old_share:.1%} (every {CADENCE_S:g} s), "
        f"now {new_share:.1%} (every {period_s:.1f} s; bounded at {SCAN_SHARE:.0%})"
    )
    if found["before"] != found["now"]:
        print("MISMATCH: the two scans found different sessions")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vouchers", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1_000_000, help="radacct rows")
    parser.add_argument("--rounds", type=int, default=9)
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
