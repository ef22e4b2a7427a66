"""SQL for sessions. radacct rows are FreeRADIUS's; a session is live while it is open and its
router keeps updating it (the grace period is session_grace(), the SQL the device limit uses).
The router is matched by address within the session's tenant, never across tenants."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Interval, RowMapping, Select, and_, func, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import RadAcct, Router, Tenant, Voucher
from api.sessions.schemas import SessionPage
from api.tenancy import scoped


def _live() -> ColumnElement[bool]:
    grace = func.session_grace(Tenant.acct_interim_interval, type_=Interval)
    return and_(RadAcct.acctstoptime.is_(None), RadAcct.acctupdatetime > func.now() - grace)


def _base(tenant_id: int) -> Select[Any]:
    return (
        scoped(RadAcct, tenant_id)
        .join(Tenant, Tenant.id == RadAcct.tenant_id)
        .outerjoin(
            Voucher, and_(Voucher.id == RadAcct.voucher_id, Voucher.tenant_id == RadAcct.tenant_id)
        )
        .outerjoin(
            Router,
            and_(Router.tenant_id == RadAcct.tenant_id, Router.ip_address == RadAcct.nasipaddress),
        )
    )


_COLUMNS = (
    RadAcct.radacctid.label("id"),
    Voucher.code.label("voucher_code"),
    RadAcct.username,
    RadAcct.callingstationid.label("mac"),
    RadAcct.framedipaddress.label("ip_address"),
    Router.id.label("router_id"),
    Router.name.label("router_name"),
    RadAcct.nasipaddress.label("nas_ip_address"),
    RadAcct.acctstarttime.label("started_at"),
    RadAcct.acctupdatetime.label("updated_at"),
    RadAcct.acctstoptime.label("stopped_at"),
    func.coalesce(RadAcct.acctsessiontime, 0).label("session_seconds"),
    func.coalesce(RadAcct.acctinputoctets, 0).label("bytes_in"),
    func.coalesce(RadAcct.acctoutputoctets, 0).label("bytes_out"),
    RadAcct.acctterminatecause.label("terminate_cause"),
)


async def _cursor(
    session: AsyncSession, tenant_id: int, session_id: int
) -> tuple[datetime | None, int] | None:
    stmt = scoped(RadAcct, tenant_id).where(RadAcct.radacctid == session_id)
    row = (
        await session.execute(stmt.with_only_columns(RadAcct.acctstarttime, RadAcct.radacctid))
    ).first()
    return None if row is None else (row[0], row[1])


async def list_(
    session: AsyncSession,
    tenant_id: int,
    page: SessionPage,
    *,
    live_only: bool = False,
    voucher_id: int | None = None,
    router_id: int | None = None,
) -> Sequence[RowMapping]:
    """Newest first (by start), `page.before` being the id of the last row of the page before."""
    stmt = _base(tenant_id).with_only_columns(*_COLUMNS, _live().label("live"))
    if live_only:
        stmt = stmt.where(_live())
    if voucher_id is not None:
        stmt = stmt.where(RadAcct.voucher_id == voucher_id)
    if router_id is not None:
        stmt = stmt.where(Router.id == router_id)
    if page.before is not None:
        cursor = await _cursor(session, tenant_id, page.before)
        if cursor is None or cursor[0] is None:
            return []
        stmt = stmt.where(tuple_(RadAcct.acctstarttime, RadAcct.radacctid) < tuple_(*cursor))
    stmt = stmt.order_by(RadAcct.acctstarttime.desc(), RadAcct.radacctid.desc())
    result = await session.execute(stmt.limit(page.limit).offset(page.offset))
    return result.mappings().all()


async def close_stale(session: AsyncSession) -> int:
    """Closes, across all tenants, the sessions past their grace period; returns how many."""
    return int(await session.scalar(text("SELECT close_stale_sessions()")) or 0)


async def prune_auth_failures(session: AsyncSession) -> int:
    """Forget wrong-code counters idle for a day (guess throttling, migration 0008)."""
    return int(await session.scalar(text("SELECT prune_auth_failures()")) or 0)
