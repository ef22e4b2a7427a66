"""arq jobs for sessions: sending Disconnect/CoA requests (decided and written by
api/sessions/control.py in the transaction that changed the access, queued after its commit),
the sweeps over every ISP's sessions, and the fair-usage evaluation. Their queries across ISPs
are in api/sessions/sweeps.py."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping

from api.config import get_settings
from api.db import unit_of_work
from api.sessions import control, fairuse, sweeps
from radius.coa import CoAClient, Result, Target

log = logging.getLogger(__name__)


async def close_stale_sessions(ctx: dict[str, Any]) -> int:
    """Every minute: close sessions whose router stopped updating them (rebooted router, lost
    Stop), so lists of who is online stay true. Running it twice closes nothing twice, and a
    late interim update reopens a session it closed."""
    async with unit_of_work() as session:
        closed = await sweeps.close_stale(session)
    if closed:
        log.info("closed %d stale session(s)", closed)
    return closed


async def prune_auth_failures(ctx: dict[str, Any]) -> int:
    """Every hour: drop wrong-code counters (auth_failure) with nothing to remember. FreeRADIUS
    ignores old rows anyway (their window is over), so this only keeps the table small; running
    it twice deletes nothing twice."""
    async with unit_of_work() as session:
        return await sweeps.prune_auth_failures(session)


# ------------------------------------------------------------------ sending Disconnect/CoA


async def _claim(ids: Sequence[int]) -> list[RowMapping]:
    """Takes the pending, due requests among `ids` for one exchange: next_try_at moves past the
    longest exchange, so neither the sweep nor a second run of the job sends them meanwhile
    (and if this worker dies, the sweep sends them again after that)."""
    settings = get_settings()
    longest = settings.coa_timeout * sum(2.0**k for k in range(settings.coa_retries + 1)) + 5
    async with unit_of_work() as session:
        return await sweeps.claim(session, ids, longest)


async def _exchange(client: CoAClient, row: RowMapping) -> Result:
    if row["address"] is None:
        return Result("timeout", 0, detail="the router was deleted")
    target = Target(row["address"], row["coa_port"], row["secret"].encode())
    method = client.disconnect if row["kind"] == "disconnect" else client.change
    return await method(target, row["attributes"])


async def send_batch(ctx: dict[str, Any], request_ids: list[int]) -> dict[str, int]:
    """arq job: sends the requests that are still pending and due, all at once on the worker's
    one socket (a fan-out to every session on many routers), and records every answer in one
    transaction. Idempotent: a request is claimed before it is sent."""
    rows = await _claim(request_ids)
    if not rows:
        return {}
    results = await asyncio.gather(*(_exchange(ctx["coa"], row) for row in rows))
    delays = control.round_delays()
    again, final = [], []
    for row, result in zip(rows, results, strict=True):
        params = {"id": row["id"], "n": result.attempts, "detail": result.detail}
        if result.outcome == "timeout" and row["rounds"] < len(delays) and row["address"]:
            again.append(params | {"delay": delays[row["rounds"]]})
        else:
            final.append(params | {"status": result.outcome, "cause": result.error_cause})
    async with unit_of_work() as session:
        if again:  # another round later: the sweep queues it when next_try_at comes
            await sweeps.record_retries(session, again)
        if final:
            await sweeps.record_answers(session, final)
    for row, result in zip(rows, results, strict=True):
        if result.outcome != "ack" and not (
            result.outcome == "timeout" and row["rounds"] < len(delays)
        ):
            await _after(row, result.outcome, result.error_cause)
    counts: dict[str, int] = {"retry": len(again)}
    for params in final:
        counts[params["status"]] = counts.get(params["status"], 0) + 1
    return counts


async def send(ctx: dict[str, Any], request_id: int) -> str:
    """arq job for one request: "ack", "nak", "timeout", "retry" (another round later) or
    "done" (not pending, or not due: someone else has it)."""
    counts = await send_batch(ctx, [request_id])
    return next((outcome for outcome, n in counts.items() if n), "done")


async def _after(row: RowMapping, outcome: str, cause: int | None) -> None:
    """What a failed request leads to (control.follow_up), in a transaction of its own."""
    action = control.follow_up(row, outcome, cause)
    if action is not None:
        async with unit_of_work() as session:
            await control.apply_follow_up(session, row, action)


SWEEP_LOCK_MS = 120_000  # a sweep that died holding the lock frees it after this
# The scan for sessions that outlive their voucher reads every live session, so its cost grows
# with the ISPs' size (~40 ms at 5,000 live sessions, ~0.4 s at 50,000): after a scan that took
# T, the next waits T * (1 / SCAN_SHARE - 1), so it keeps at most this share of one core of
# PostgreSQL busy. Small ISPs still get it every 2 s. It is a safety net (routers enforce
# Session-Timeout and Mikrotik-Total-Limit themselves; revokes and expiries queue their own
# Disconnect), so being later at scale costs a few seconds of a session that should have ended.
SCAN_SHARE = 0.05
SCAN_REST = "sweep_coa:rest"  # present while the scan rests


def scan_rest_ms(took_s: float) -> int:
    """How long the outliving-sessions scan rests after a scan that took `took_s` seconds."""
    return int(took_s * (1 / SCAN_SHARE - 1) * 1000)


async def sweep_coa(ctx: dict[str, Any]) -> int:
    """Every 2 s: queue pending requests whose job was lost (or never queued), and disconnect
    live sessions of vouchers that can no longer be used (expired, used up, revoked: a router
    that ignored Session-Timeout, or a revoke made while the worker was down), the latter no
    more often than SCAN_SHARE allows. One sweep at a time across workers: a big ISP's sweep can
    outlast the 2 s between runs, and runs piling up on each other only add load."""
    lock = "lock:sweep_coa"
    if not await ctx["redis"].set(lock, "1", nx=True, px=SWEEP_LOCK_MS):
        return 0
    try:
        return await _sweep_coa(ctx)
    finally:
        await ctx["redis"].delete(lock)


async def _sweep_coa(ctx: dict[str, Any]) -> int:
    redis = ctx["redis"]
    ids: list[int] = []
    if not await redis.exists(SCAN_REST):
        started = time.monotonic()
        async with unit_of_work() as session:
            for row in await sweeps.outliving_sessions(session):
                reason = "revoked" if row["state"] == "revoked" else "expired"
                ids += await control.plan(
                    session, row["tenant_id"], [row], kind="disconnect", reason=reason,
                    actor="worker",
                )  # fmt: skip
        rest = scan_rest_ms(time.monotonic() - started)
        if rest > 0:
            await redis.set(SCAN_REST, "1", px=rest)
    async with unit_of_work() as session:
        stale = await sweeps.due_requests(session)
    # One job id per round: a round already queued is not queued twice.
    for request_id, rounds in stale:
        await redis.enqueue_job("send_coa", request_id, _job_id=f"coa:{request_id}:r{rounds}")
    return len(ids) + len(stale)


# ------------------------------------------------------------------ fair usage


FULL_EVERY = 60.0  # seconds between passes over every ISP, changed or not
# This process's last evaluation of each ISP: what it depended on (sweeps.fair_usage_tenants).
_evaluated: dict[int, tuple[Any, ...]] = {}
_last_full = [0.0]


async def evaluate_fair_usage(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    """Every few seconds: each ISP with fair-usage rules (or state left from removed ones) whose
    sessions online or rules changed since this process last evaluated it, one transaction per
    ISP (fairuse.evaluate); every ISP once a minute whatever (a plan's rate changed, another
    worker evaluated it meanwhile). One read tells which: a thousand ISPs with rules and nobody
    logging in or out cost one query every two seconds, not a thousand transactions."""
    async with unit_of_work() as session:
        tenants = await sweeps.fair_usage_tenants(session)
    full = time.monotonic() - _last_full[0] >= FULL_EVERY
    if full:
        _last_full[0] = time.monotonic()
    counts = {"evaluated": 0, "planned": 0}
    for tenant_id, signature in tenants.items():
        if not full and _evaluated.get(tenant_id) == signature:
            continue
        async with unit_of_work() as session:
            counts["planned"] += len(await fairuse.evaluate(session, tenant_id))
        _evaluated[tenant_id] = signature
        counts["evaluated"] += 1
    for gone in _evaluated.keys() - tenants.keys():
        del _evaluated[gone]
    return counts
