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
    """Writes one pending request per session (in the caller's transaction, one statement);
    returns their ids. They are queued for the worker once that transaction commits."""
    if not rows:
        return []
    result = await session.execute(
        text("""
            INSERT INTO coa_request (tenant_id, router_id, radacct_id, voucher_id, kind, reason,
                                     attributes, actor)
            SELECT :t, u.router, u.acct, u.voucher, :kind, :reason, CAST(u.attrs AS jsonb),
                   :actor
              FROM unnest(CAST(:routers AS integer[]), CAST(:accts AS bigint[]),
                          CAST(:vouchers AS bigint[]), CAST(:attrs AS text[]))
                   AS u(router, acct, voucher, attrs)
            RETURNING id"""),
        {
            "t": tenant_id, "kind": kind, "reason": reason, "actor": actor,
            "routers": [r["router_id"] for r in rows],
            "accts": [r["radacctid"] for r in rows],
            "vouchers": [r["voucher_id"] for r in rows],
            "attrs": [json.dumps(session_attributes(r) | (change or {})) for r in rows],
        },
    )  # fmt: skip
    ids = sorted(int(i) for i in result.scalars())
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


async def _claim(ids: Sequence[int]) -> list[RowMapping]:
    """Takes the pending, due requests among `ids` for one exchange: next_try_at moves past the
    longest exchange, so neither the sweep nor a second run of the job sends them meanwhile
    (and if this worker dies, the sweep sends them again after that)."""
    settings = get_settings()
    longest = settings.coa_timeout * sum(2.0**k for k in range(settings.coa_retries + 1)) + 5
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                WITH claimed AS (
                    UPDATE coa_request SET next_try_at = now() + make_interval(secs => :hold)
                     WHERE id = ANY(:ids) AND status = 'pending' AND next_try_at <= now()
                    RETURNING *)
                SELECT c.*, host(r.ip_address) AS address, r.coa_port, r.secret
                  FROM claimed c LEFT JOIN router r ON r.id = c.router_id"""),
            {"ids": list(ids), "hold": longest},
        )
        return list(result.mappings().all())


async def _exchange(client: Any, row: RowMapping) -> Any:
    from radius.coa import Result, Target  # noqa: PLC0415 - radius/ is importable in the worker

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
    delays = round_delays()
    again, final = [], []
    for row, result in zip(rows, results, strict=True):
        params = {"id": row["id"], "n": result.attempts, "detail": result.detail}
        if result.outcome == "timeout" and row["rounds"] < len(delays) and row["address"]:
            again.append(params | {"delay": delays[row["rounds"]]})
        else:
            final.append(params | {"status": result.outcome, "cause": result.error_cause})
    async with unit_of_work() as session:
        if again:  # another round later: the sweep queues it when next_try_at comes
            await session.execute(
                text("""UPDATE coa_request SET rounds = rounds + 1, attempts = attempts + :n,
                               detail = :detail, next_try_at = now() + CAST(:delay AS interval)
                         WHERE id = :id AND status = 'pending'"""),
                again,
            )
        if final:
            await session.execute(
                text("""UPDATE coa_request SET status = :status, error_cause = :cause,
                               detail = :detail, attempts = attempts + :n, rounds = rounds + 1,
                               finished_at = now()
                         WHERE id = :id AND status = 'pending'"""),
                final,
            )
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
    """What a failed request leads to. A NAKed extension CoA becomes a Disconnect (the device
    re-authenticates with its new limits). A Disconnect NAKed with session-not-found means the
    router has no such session: the open radacct row is a ghost and is closed, so it stops
    counting against the device limit. A fair-usage rate the router did not take is forgotten,
    so the next evaluation sends it again."""
    if row["kind"] == "coa" and row["reason"] == "extended" and outcome == "nak":
        async with unit_of_work() as session:
            rows = await open_sessions(session, row["tenant_id"], radacct_id=row["radacct_id"])
            await plan(
                session, row["tenant_id"], rows, kind="disconnect", reason="extended",
                actor="coa-nak",
            )  # fmt: skip
    elif row["kind"] == "disconnect" and cause == SESSION_NOT_FOUND and row["radacct_id"]:
        async with unit_of_work() as session:
            await session.execute(
                text("""UPDATE radacct SET acctstoptime = now(),
                               acctterminatecause = 'Session-Not-Found'
                         WHERE radacctid = :id AND acctstoptime IS NULL"""),
                {"id": row["radacct_id"]},
            )
    elif row["reason"] == "fair_usage" and row["radacct_id"]:
        rate = (row["attributes"] or {}).get("Mikrotik-Rate-Limit")
        async with unit_of_work() as session:
            await session.execute(
                text("""UPDATE radacct SET applied_rate = NULL
                         WHERE radacctid = :id AND applied_rate = :rate"""),
                {"id": row["radacct_id"], "rate": rate},
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
                       AND created_at < now() - interval '2 seconds'
                     ORDER BY next_try_at LIMIT 1000""")
        )
        stale = [(int(i), int(r)) for i, r in due]
    # One job id per round: a round already queued is not queued twice.
    for request_id, rounds in stale:
        await ctx["redis"].enqueue_job(
            "send_coa", request_id, _job_id=f"coa:{request_id}:r{rounds}"
        )
    return len(ids) + len(stale)
