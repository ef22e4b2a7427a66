"""Session control: Disconnect-Request and CoA-Request to every router holding a session.

A change to a customer's access is decided in the database first (revoke, extension, expiry),
and in that same transaction one `coa_request` row is written per open session, naming the
router, the session and the attributes. The worker sends them after the commit (so a router
that re-authenticates the device already gets the new answer), records ACK, NAK or timeout per
session, and retries timeouts in rounds with growing delays. A CoA the router NAKs for an
extension becomes a Disconnect: the device logs in again and gets its new limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import get_settings
from api.db import after_commit, unit_of_work

log = logging.getLogger(__name__)


def round_delays() -> list[timedelta]:
    """Waits before rounds 2, 3, ... (MNETIFI_COA_ROUND_DELAYS); rounds = delays + 1."""
    text_ = get_settings().coa_round_delays
    return [timedelta(seconds=float(x)) for x in text_.split(",") if x.strip()]


BATCH = 500  # requests per job: sent concurrently on the worker's one UDP socket
SESSION_NOT_FOUND = 503  # RFC 5176 Error-Cause: Session-Context-Not-Found

# Open sessions, with the router that holds each (by its address within the ISP).
_OPEN = """
    SELECT a.radacctid, a.voucher_id, a.username, a.acctsessionid,
           host(a.framedipaddress) AS framed_ip, a.callingstationid, r.id AS router_id
      FROM radacct a
      JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
     WHERE a.tenant_id = :t AND a.acctstoptime IS NULL
"""


async def open_sessions(
    session: AsyncSession,
    tenant_id: int,
    *,
    voucher_id: int | None = None,
    radacct_id: int | None = None,
) -> Sequence[RowMapping]:
    where, params = "", {"t": tenant_id}
    if voucher_id is not None:
        where += " AND a.voucher_id = :v"
        params["v"] = voucher_id
    if radacct_id is not None:
        where += " AND a.radacctid = :s"
        params["s"] = radacct_id
    result = await session.execute(text(_OPEN + where + " ORDER BY a.radacctid"), params)
    return result.mappings().all()


def session_attributes(row: RowMapping) -> dict[str, Any]:
    """What identifies a session to RouterOS (never NAS-IP-Address: see the reference, 5.3)."""
    attrs: dict[str, Any] = {"User-Name": row["username"], "Acct-Session-Id": row["acctsessionid"]}
    if row["framed_ip"]:
        attrs["Framed-IP-Address"] = row["framed_ip"]
    if row["callingstationid"]:
        attrs["Calling-Station-Id"] = row["callingstationid"]
    return attrs


async def plan(
    session: AsyncSession,
    tenant_id: int,
    rows: Sequence[RowMapping],
    *,
    kind: str,
    reason: str,
    actor: str,
    change: dict[str, Any] | None = None,
) -> list[int]:
    """Writes one pending request per session (in the caller's transaction); returns ids."""
    ids = []
    for row in rows:
        attrs = session_attributes(row) | (change or {})
        request_id = await session.scalar(
            text("""
                INSERT INTO coa_request (tenant_id, router_id, radacct_id, voucher_id, kind,
                                         reason, attributes, actor)
                VALUES (:t, :router, :acct, :voucher, :kind, :reason, CAST(:attrs AS jsonb),
                        :actor)
                RETURNING id"""),
            {"t": tenant_id, "router": row["router_id"], "acct": row["radacctid"],
             "voucher": row["voucher_id"], "kind": kind, "reason": reason,
             "attrs": json.dumps(attrs), "actor": actor},
        )  # fmt: skip
        ids.append(int(request_id))
    if ids:
        after_commit(session, lambda: dispatch(ids))
    return ids


async def disconnect_voucher(
    session: AsyncSession, tenant_id: int, voucher_id: int, *, reason: str, actor: str
) -> list[int]:
    rows = await open_sessions(session, tenant_id, voucher_id=voucher_id)
    return await plan(session, tenant_id, rows, kind="disconnect", reason=reason, actor=actor)


async def extend_sessions(
    session: AsyncSession, tenant_id: int, voucher_id: int, *, actor: str
) -> list[int]:
    """After an extension: CoA the voucher's live sessions with the new Session-Timeout and
    rate (what the next login would get)."""
    rows = await open_sessions(session, tenant_id, voucher_id=voucher_id)
    if not rows:
        return []
    result = await session.execute(
        text("""SELECT (voucher_state(v, t.unused_voucher_days)).seconds_left, v.rate_limit
                  FROM voucher v JOIN tenant t ON t.id = v.tenant_id WHERE v.id = :v"""),
        {"v": voucher_id},
    )
    left, rate = result.one()
    change = {"Session-Timeout": max(int(left or 0), 1), "Mikrotik-Rate-Limit": rate}
    return await plan(
        session, tenant_id, rows, kind="coa", reason="extended", actor=actor, change=change
    )


# ------------------------------------------------------------------ sending (the worker)


async def _pool() -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(get_settings().redis_url))


async def dispatch(ids: Sequence[int], redis: ArqRedis | None = None) -> None:
    """Queues the requests for the worker (after the commit that wrote them). A lost enqueue
    is harmless: the worker's sweep sends every pending request that is due."""
    if not ids:
        return
    pool = redis or await _pool()
    try:
        for chunk in range(0, len(ids), BATCH):
            part = list(ids[chunk : chunk + BATCH])
            await pool.enqueue_job("send_coa_batch", part, _job_id=f"coa:{part[0]}-{part[-1]}:r0")
    except Exception:  # noqa: BLE001 - the sweep picks them up
        log.warning("could not queue %d CoA request(s); the sweep will send them", len(ids))
    finally:
        if redis is None:
            await pool.aclose()


async def _load(request_id: int) -> RowMapping | None:
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                SELECT c.*, host(r.ip_address) AS address, r.coa_port, r.secret
                  FROM coa_request c LEFT JOIN router r ON r.id = c.router_id
                 WHERE c.id = :id"""),
            {"id": request_id},
        )
        return result.mappings().first()


async def send(ctx: dict[str, Any], request_id: int) -> str:
    """arq job: sends one request if it is still pending and due; idempotent."""
    from radius.coa import Target  # noqa: PLC0415 - radius/ is importable in the worker

    row = await _load(request_id)
    if row is None:
        return "gone"
    if row["status"] != "pending":
        return "done"
    if row["address"] is None:
        await _finish(request_id, "timeout", None, "the router was deleted", 0)
        return "timeout"
    client = ctx["coa"]
    target = Target(row["address"], row["coa_port"], row["secret"].encode())
    method = client.disconnect if row["kind"] == "disconnect" else client.change
    result = await method(target, row["attributes"])
    delays = round_delays()
    if result.outcome == "timeout" and row["rounds"] < len(delays):
        # Another round later: the sweep queues it when next_try_at comes.
        async with unit_of_work() as session:
            await session.execute(
                text("""UPDATE coa_request SET rounds = rounds + 1,
                               attempts = attempts + :n, detail = :detail,
                               next_try_at = now() + CAST(:delay AS interval)
                         WHERE id = :id AND status = 'pending'"""),
                {"id": request_id, "n": result.attempts, "detail": result.detail,
                 "delay": delays[row["rounds"]]},
            )  # fmt: skip
        return "retry"
    if await _finish(
        request_id, result.outcome, result.error_cause, result.detail, result.attempts
    ):
        await _after(row, result.outcome, result.error_cause, ctx)  # once, by whoever finished it
    return result.outcome


async def send_batch(ctx: dict[str, Any], request_ids: list[int]) -> dict[str, int]:
    """arq job: sends many requests at once (a fan-out to every session on many routers)."""
    results = await asyncio.gather(*(send(ctx, i) for i in request_ids))
    return {outcome: results.count(outcome) for outcome in set(results)}


async def _finish(
    request_id: int, outcome: str, cause: int | None, detail: str | None, attempts: int
) -> bool:
    """Records the answer; False if another run of the job had already done so."""
    async with unit_of_work() as session:
        result = await session.execute(
            text("""UPDATE coa_request SET status = :status, error_cause = :cause,
                           detail = :detail, attempts = attempts + :n, rounds = rounds + 1,
                           finished_at = now()
                     WHERE id = :id AND status = 'pending'"""),
            {"id": request_id, "status": outcome, "cause": cause, "detail": detail,
             "n": attempts},
        )  # fmt: skip
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def _after(row: RowMapping, outcome: str, cause: int | None, ctx: dict[str, Any]) -> None:
    """A NAKed extension CoA becomes a Disconnect (the device re-authenticates with its new
    limits). A Disconnect NAKed with session-not-found means the router has no such session:
    the open radacct row is a ghost and is closed, so it stops counting against the device
    limit."""
    if outcome != "nak":
        return
    if row["kind"] == "coa" and row["reason"] == "extended":
        async with unit_of_work() as session:
            rows = await open_sessions(session, row["tenant_id"], radacct_id=row["radacct_id"])
            ids = await plan(
                session, row["tenant_id"], rows, kind="disconnect", reason="extended",
                actor="coa-nak",
            )  # fmt: skip
        await dispatch(ids, ctx.get("redis"))
    elif row["kind"] == "disconnect" and cause == SESSION_NOT_FOUND and row["radacct_id"]:
        async with unit_of_work() as session:
            await session.execute(
                text("""UPDATE radacct SET acctstoptime = now(),
                               acctterminatecause = 'Session-Not-Found'
                         WHERE radacctid = :id AND acctstoptime IS NULL"""),
                {"id": row["radacct_id"]},
            )


async def sweep(ctx: dict[str, Any]) -> int:
    """Every few seconds: queue pending requests whose job was lost (or never queued), and
    disconnect live sessions of vouchers that can no longer be used (expired, used up, revoked:
    a router that ignored Session-Timeout, or a revoke made while the worker was down)."""
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
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
                       AND s.state IN ('expired', 'exhausted', 'revoked')
                       AND NOT EXISTS (SELECT 1 FROM coa_request c
                                        WHERE c.radacct_id = a.radacctid
                                          AND c.kind = 'disconnect'
                                          AND (c.status = 'pending'
                                               OR c.created_at > now() - interval '10 minutes'))
                )
                SELECT * FROM outliving LIMIT 500"""),
        )
        rows = result.mappings().all()
        ids: list[int] = []
        for row in rows:
            reason = "revoked" if row["state"] == "revoked" else "expired"
            ids += await plan(
                session, row["tenant_id"], [row], kind="disconnect", reason=reason,
                actor="worker",
            )  # fmt: skip
        due = await session.execute(
            text("""SELECT id, rounds FROM coa_request
                     WHERE status = 'pending' AND next_try_at <= now()
                       AND (rounds > 0 OR created_at < now() - interval '5 seconds')
                     ORDER BY next_try_at LIMIT 1000""")
        )
        stale = [(int(i), int(r)) for i, r in due]
    # One job id per round: a round already queued is not queued twice.
    for request_id, rounds in stale:
        await ctx["redis"].enqueue_job(
            "send_coa", request_id, _job_id=f"coa:{request_id}:r{rounds}"
        )
    return len(ids) + len(stale)
