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
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound
from api.routers import repository
from api.tenancy import Principal

IDLE_WITHIN = timedelta(days=1)  # seen this recently but not live: idle, not silent


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
    rows = await repository.health(session, principal, idle=IDLE_WITHIN)
    return [_health(row) for row in rows]


async def router_health(
    session: AsyncSession, principal: Principal, router_id: int
) -> RouterHealth:
    rows = await repository.health(session, principal, idle=IDLE_WITHIN, router_id=router_id)
    if not rows:
        raise NotFound("Router not found")
    return _health(rows[0])
