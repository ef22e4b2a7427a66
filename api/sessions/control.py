"""Session control: Disconnect-Request and CoA-Request to every router holding a session.

A change to a customer's access is decided in the database first (revoke, extension, expiry),
and in that same transaction one `coa_request` row is written per open session, naming the
router, the session and the attributes. The worker sends them after the commit (so a router
that re-authenticates the device already gets the new answer), records ACK, NAK or timeout per
session, and retries timeouts in rounds with growing delays. A CoA the router NAKs for an
extension becomes a Disconnect: the device logs in again and gets its new limits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from arq.connections import ArqRedis, RedisSettings, create_pool
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.config import get_settings
from api.db import after_commit
from api.errors import NotFound
from api.sessions import repository
from api.tenancy import Principal
from api.vouchers import service as vouchers_service
from api.vouchers.schemas import VoucherDetail, VoucherExtend

log = logging.getLogger(__name__)


def round_delays() -> list[timedelta]:
    """Waits before rounds 2, 3, ... (MNETIFI_COA_ROUND_DELAYS); rounds = delays + 1."""
    text_ = get_settings().coa_round_delays
    return [timedelta(seconds=float(x)) for x in text_.split(",") if x.strip()]


BATCH = 500  # requests per job: sent concurrently on the worker's one UDP socket
SESSION_NOT_FOUND = 503  # RFC 5176 Error-Cause: Session-Context-Not-Found


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
    ids = await repository.insert_requests(
        session, tenant_id,
        {
            "kind": kind, "reason": reason, "actor": actor,
            "routers": [r["router_id"] for r in rows],
            "accts": [r["radacctid"] for r in rows],
            "vouchers": [r["voucher_id"] for r in rows],
            "subscribers": [r.get("subscriber_id") for r in rows],
            "attrs": [json.dumps(session_attributes(r) | (change or {})) for r in rows],
        },
    )  # fmt: skip
    if ids:
        after_commit(session, lambda: dispatch(ids))
    return ids


async def disconnect_voucher(
    session: AsyncSession, tenant_id: int, voucher_id: int, *, reason: str, actor: str
) -> list[int]:
    rows = await repository.open_sessions(session, tenant_id, voucher_id=voucher_id)
    return await plan(session, tenant_id, rows, kind="disconnect", reason=reason, actor=actor)


async def disconnect_subscriber(
    session: AsyncSession, tenant_id: int, subscriber_id: int, *, reason: str, actor: str
) -> list[int]:
    """A subscriber's live sessions, in or out of the expired state (renewed, expired) or
    suspended: RouterOS cannot change a PPP session's pool or address by CoA, so each gets a
    Disconnect and the router's next Access-Request gets the new answer."""
    rows = await repository.open_sessions(session, tenant_id, subscriber_id=subscriber_id)
    return await plan(session, tenant_id, rows, kind="disconnect", reason=reason, actor=actor)


async def extend_sessions(
    session: AsyncSession, tenant_id: int, voucher_id: int, *, actor: str
) -> list[int]:
    """After an extension: CoA the voucher's live sessions with the new Session-Timeout and
    rate (what the next login would get)."""
    rows = await repository.open_sessions(session, tenant_id, voucher_id=voucher_id)
    if not rows:
        return []
    left, rate = await repository.voucher_time_and_rate(session, tenant_id, voucher_id)
    change = {"Session-Timeout": max(int(left or 0), 1), "Mikrotik-Rate-Limit": rate}
    return await plan(
        session, tenant_id, rows, kind="coa", reason="extended", actor=actor, change=change
    )


# ------------------------------------------------------------------ staff actions


async def revoke_voucher(
    session: AsyncSession, principal: Principal, code: str, meta: audit.Meta = None
) -> VoucherDetail:
    """Idempotent. The next login is refused, and the devices online now get a
    Disconnect-Request on every router (sent once this commits)."""
    voucher, revoked = await vouchers_service.revoke(session, principal, code, meta)
    if revoked:
        await disconnect_voucher(
            session, principal.tenant_id, voucher.id, reason="revoked", actor=principal.email
        )
    return await vouchers_service.get_detail(session, principal, voucher.code)


async def extend_voucher(
    session: AsyncSession, principal: Principal, code: str, data: VoucherExtend,
    meta: audit.Meta = None,
) -> VoucherDetail:  # fmt: skip
    """Staff giving a live voucher more time; its devices online now get the new
    Session-Timeout by CoA (sent once this commits)."""
    voucher = await vouchers_service.extend(session, principal, code, data, meta)
    await extend_sessions(session, principal.tenant_id, voucher.id, actor=principal.email)
    return await vouchers_service.get_detail(session, principal, voucher.code)


async def staff_disconnect_voucher(
    session: AsyncSession, principal: Principal, code: str, meta: audit.Meta
) -> list[dict[str, Any]]:
    """Disconnects every live session of the voucher, on every router that holds one."""
    voucher_id = await repository.voucher_id(session, principal.tenant_id, code.strip().upper())
    if voucher_id is None:
        raise NotFound("Voucher not found")
    ids = await disconnect_voucher(
        session, principal.tenant_id, voucher_id, reason="admin", actor=principal.email
    )
    await audit.record(session, principal, "voucher.disconnect", "voucher", voucher_id,
                       {"sessions": len(ids)}, meta)  # fmt: skip
    return await repository.requests(session, principal.tenant_id, ids) if ids else []


async def staff_disconnect_session(
    session: AsyncSession, principal: Principal, session_id: int, meta: audit.Meta
) -> list[dict[str, Any]]:
    rows = await repository.open_sessions(
        session, principal.tenant_id, radacct_id=session_id, viewer=principal
    )
    if not rows:
        raise NotFound("No such live session")
    ids = await plan(
        session, principal.tenant_id, rows, kind="disconnect", reason="admin",
        actor=principal.email,
    )  # fmt: skip
    await audit.record(session, principal, "session.disconnect", "session", session_id, None, meta)
    return await repository.requests(session, principal.tenant_id, ids) if ids else []


async def control_log(
    session: AsyncSession, principal: Principal, voucher: str | None, limit: int
) -> list[dict[str, Any]]:
    """Disconnect and CoA requests, newest first, with each router's answer."""
    code = voucher.upper() if voucher else None
    return await repository.control_log(session, principal, code, limit)


# ------------------------------------------------------------------ queueing and answers


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


FollowUp = Literal["disconnect", "close_ghost", "forget_rate"]


def follow_up(row: RowMapping, outcome: str, cause: int | None) -> FollowUp | None:
    """What a failed request leads to. A NAKed extension CoA becomes a Disconnect (the device
    re-authenticates with its new limits). A Disconnect NAKed with session-not-found means the
    router has no such session: the open radacct row is a ghost and is closed, so it stops
    counting against the device limit. A fair-usage rate the router did not take is forgotten,
    so the next evaluation sends it again."""
    if row["kind"] == "coa" and row["reason"] == "extended" and outcome == "nak":
        return "disconnect"
    if row["kind"] == "disconnect" and cause == SESSION_NOT_FOUND and row["radacct_id"]:
        return "close_ghost"
    if row["reason"] == "fair_usage" and row["radacct_id"]:
        return "forget_rate"
    return None


async def apply_follow_up(session: AsyncSession, row: RowMapping, action: FollowUp) -> None:
    tenant_id = row["tenant_id"]
    if action == "disconnect":
        rows = await repository.open_sessions(session, tenant_id, radacct_id=row["radacct_id"])
        await plan(session, tenant_id, rows, kind="disconnect", reason="extended", actor="coa-nak")
    elif action == "close_ghost":
        await repository.close_ghost(session, tenant_id, row["radacct_id"])
    else:
        rate = (row["attributes"] or {}).get("Mikrotik-Rate-Limit")
        await repository.forget_rate(session, tenant_id, row["radacct_id"], rate)
