"""Is each router talking to us? What its accounting, its live sessions and its answers to
Disconnect/CoA say.

A router's sessions are the radacct rows of its tenant at its address (radacct has no router
id: FreeRADIUS writes the packet's source address, which is what identifies a router). Times are
judged by PostgreSQL's clock, the one session_grace() and the device limit use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.tenancy import Principal

IDLE_WITHIN = timedelta(days=1)  # seen this recently but not live: idle, not silent

# One pass over the tenant's sessions, grouped by router address; never later than a packet the
# router really sent. A router's stops, interims and Accounting-On all set acctupdatetime to the
# packet's time, but two closes do not come from it: another router's Start ('Superseded', the
# device moved) sets acctupdatetime to that router's packet time, so such a session counts at its
# last interim from its own router (start + the Acct-Session-Time that interim reported, which
# the close keeps); the server's Session-Not-Found close (api/sessions/control.py) sets only
# acctstoptime, which is therefore never used.
_SQL = """
WITH acct AS (
    SELECT a.nasipaddress,
           max(CASE WHEN a.acctterminatecause = 'Superseded'
                    THEN a.acctstarttime + make_interval(secs => COALESCE(a.acctsessiontime, 0))
                    ELSE GREATEST(a.acctstarttime, a.acctupdatetime) END) AS last_accounting_at,
           count(*) FILTER (WHERE a.acctstoptime IS NULL
                              AND a.acctupdatetime > now() - session_grace(t.acct_interim_interval))
               AS active_sessions
      FROM radacct a JOIN tenant t ON t.id = a.tenant_id
     WHERE a.tenant_id = :t {acct_filter}
     GROUP BY a.nasipaddress
)
SELECT r.id, r.name, host(r.ip_address) AS ip_address, r.enabled,
       acct.last_accounting_at, COALESCE(acct.active_sessions, 0) AS active_sessions,
       CASE WHEN acct.last_accounting_at > now() - session_grace(t.acct_interim_interval)
                THEN 'online'
            WHEN acct.last_accounting_at > now() - CAST(:idle AS interval) THEN 'idle'
            ELSE 'silent' END AS status,
       coa.id AS coa_id, coa.kind AS coa_kind, coa.status AS coa_status,
       coa.error_cause AS coa_error_cause, coa.detail AS coa_detail,
       coa.attempts AS coa_attempts, coa.created_at AS coa_created_at,
       coa.finished_at AS coa_finished_at
  FROM router r
  JOIN tenant t ON t.id = r.tenant_id
  LEFT JOIN acct ON acct.nasipaddress = r.ip_address
  LEFT JOIN LATERAL (
      SELECT c.id, c.kind, c.status, c.error_cause, c.detail, c.attempts, c.created_at,
             c.finished_at
        FROM coa_request c
       WHERE c.router_id = r.id AND c.tenant_id = r.tenant_id AND c.status <> 'pending'
       ORDER BY c.created_at DESC, c.id DESC
       LIMIT 1
  ) coa ON true
 WHERE r.tenant_id = :t {router_filter}
 ORDER BY r.name, r.id
"""
# The filters are fixed text; the router id is a bound parameter.
_ONE = {
    "acct_filter": "AND a.nasipaddress = (SELECT ip_address FROM router "
    "WHERE id = :r AND tenant_id = :t)",
    "router_filter": "AND r.id = :r",
}
_ALL = {"acct_filter": "", "router_filter": ""}


class CoaResult(BaseModel):
    """The router's answer to the latest Disconnect or CoA it was sent that is settled."""

    id: int
    kind: Literal["disconnect", "coa"]
    status: Literal["ack", "nak", "timeout"]
    error_cause: int | None = Field(description="RFC 5176 Error-Cause of a NAK (503: no session)")
    detail: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None


class RouterHealth(BaseModel):
    id: int
    name: str
    ip_address: str
    enabled: bool
    status: Literal["online", "idle", "silent"] = Field(
        description="online: accounting within 2 x interim interval + 60 s; idle: no live "
        "session, accounting within a day; silent: never, or longer ago"
    )
    last_accounting_at: datetime | None = Field(description="Its newest accounting packet")
    active_sessions: int = Field(description="Open sessions it still updates")
    last_coa: CoaResult | None


def _health(row: RowMapping) -> RouterHealth:
    coa: dict[str, Any] = {k[4:]: v for k, v in row.items() if k.startswith("coa_")}
    fields = {k: v for k, v in row.items() if not k.startswith("coa_")}
    return RouterHealth(**fields, last_coa=CoaResult(**coa) if coa["id"] is not None else None)


async def list_health(session: AsyncSession, principal: Principal) -> Sequence[RouterHealth]:
    result = await session.execute(
        text(_SQL.format(**_ALL)), {"t": principal.tenant_id, "idle": IDLE_WITHIN}
    )
    return [_health(row) for row in result.mappings()]


async def router_health(
    session: AsyncSession, principal: Principal, router_id: int
) -> RouterHealth:
    result = await session.execute(
        text(_SQL.format(**_ONE)),
        {"t": principal.tenant_id, "r": router_id, "idle": IDLE_WITHIN},
    )
    row = result.mappings().first()
    if row is None:
        raise NotFound("Router not found")
    return _health(row)
