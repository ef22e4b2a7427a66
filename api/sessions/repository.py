"""SQL for sessions and their control, one ISP at a time. radacct rows are FreeRADIUS's; a session
is live while it is open and its router keeps updating it (the grace period is session_grace(),
the SQL the device limit uses). The router is matched by address within the session's tenant,
never across tenants. The worker's queries across every ISP are in api/sessions/sweeps.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Interval, RowMapping, Select, and_, func, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import RadAcct, Router, Tenant, Voucher
from api.sessions.schemas import SessionPage
from api.tenancy import Principal, principal_sql, router_scope, scoped, tenant_sql


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
    principal: Principal,
    page: SessionPage,
    *,
    live_only: bool = False,
    voucher_id: int | None = None,
    router_id: int | None = None,
) -> Sequence[RowMapping]:
    """Newest first (by start), `page.before` being the id of the last row of the page before.
    Only sessions on routers the principal sees (a tech: allocated routers)."""
    tenant_id = principal.tenant_id
    stmt = _base(tenant_id).with_only_columns(*_COLUMNS, _live().label("live"))
    stmt = stmt.where(router_scope(principal, Router.id))
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


# ------------------------------------------------------------------ control (Disconnect/CoA)

# Open sessions, with the router that holds each (by its address within the ISP).
_OPEN = """
    SELECT a.radacctid, a.voucher_id, a.subscriber_id, a.username, a.acctsessionid,
           host(a.framedipaddress) AS framed_ip, a.callingstationid, r.id AS router_id
      FROM radacct a
      JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
     WHERE {tenant:a} AND a.acctstoptime IS NULL
"""


async def open_sessions(
    session: AsyncSession,
    tenant_id: int,
    *,
    voucher_id: int | None = None,
    radacct_id: int | None = None,
    subscriber_id: int | None = None,
    viewer: Principal | None = None,
) -> Sequence[RowMapping]:
    """Open sessions of the tenant; with `viewer`, only on routers they see (a staff action)."""
    where, params = "", {}
    if voucher_id is not None:
        where += " AND a.voucher_id = :v"
        params["v"] = voucher_id
    if subscriber_id is not None:
        where += " AND a.subscriber_id = :sub"
        params["sub"] = subscriber_id
    if radacct_id is not None:
        where += " AND a.radacctid = :s"
        params["s"] = radacct_id
    sql = _OPEN + where + " ORDER BY a.radacctid"
    if viewer is not None:
        assert viewer.tenant_id == tenant_id
        statement = principal_sql(
            viewer, sql.replace("{tenant:a}", "{tenant:a} AND {routers:r.id}")
        )
    else:
        statement = tenant_sql(tenant_id, sql)
    return (await session.execute(statement, params)).mappings().all()


async def insert_requests(
    session: AsyncSession, tenant_id: int, values: dict[str, Any]
) -> list[int]:
    """One pending coa_request per session in one statement (the lists in `values` are
    parallel: routers, accts, vouchers, subscribers, attrs); returns their ids, sorted."""
    result = await session.execute(
        tenant_sql(tenant_id, """
            INSERT INTO coa_request (tenant_id, router_id, radacct_id, voucher_id, subscriber_id,
                                     kind, reason, attributes, actor)
            SELECT :tenant_id, u.router, u.acct, u.voucher, u.subscriber, :kind, :reason,
                   CAST(u.attrs AS jsonb), :actor
              FROM unnest(CAST(:routers AS integer[]), CAST(:accts AS bigint[]),
                          CAST(:vouchers AS bigint[]), CAST(:subscribers AS bigint[]),
                          CAST(:attrs AS text[]))
                   AS u(router, acct, voucher, subscriber, attrs)
            RETURNING id"""),
        values,
    )  # fmt: skip
    return sorted(int(i) for i in result.scalars())


async def voucher_time_and_rate(
    session: AsyncSession, tenant_id: int, voucher_id: int
) -> tuple[Any, str | None]:
    """Seconds left and rate of a voucher: what its next login would get."""
    result = await session.execute(
        tenant_sql(tenant_id, """
            SELECT (voucher_state(v, t.unused_voucher_days)).seconds_left, v.rate_limit
              FROM voucher v JOIN tenant t ON t.id = v.tenant_id
             WHERE {tenant:v} AND v.id = :v"""),
        {"v": voucher_id},
    )  # fmt: skip
    left, rate = result.one()
    return left, rate


async def voucher_id(session: AsyncSession, tenant_id: int, code: str) -> int | None:
    stmt = scoped(Voucher, tenant_id).where(Voucher.code == code)
    return await session.scalar(stmt.with_only_columns(Voucher.id))


async def requests(session: AsyncSession, tenant_id: int, ids: list[int]) -> list[dict[str, Any]]:
    result = await session.execute(
        tenant_sql(tenant_id, """
            SELECT id, router_id, radacct_id, voucher_id, kind, reason, status, created_at
              FROM coa_request WHERE {tenant} AND id = ANY(:ids) ORDER BY id"""),
        {"ids": ids},
    )  # fmt: skip
    return [dict(r) for r in result.mappings()]


async def control_log(
    session: AsyncSession, principal: Principal, code: str | None, limit: int
) -> list[dict[str, Any]]:
    result = await session.execute(
        principal_sql(principal, """
            SELECT c.id, c.router_id, r.name AS router, c.radacct_id, v.code AS voucher,
                   c.kind, c.reason, c.attributes, c.status, c.error_cause, c.detail,
                   c.attempts, c.rounds, c.actor, c.created_at, c.finished_at
              FROM coa_request c
              LEFT JOIN router r ON r.id = c.router_id
              LEFT JOIN voucher v ON v.id = c.voucher_id
             WHERE {tenant:c} AND {routers:c.router_id}
               AND (CAST(:code AS text) IS NULL OR v.code = :code)
             ORDER BY c.created_at DESC, c.id DESC LIMIT :limit"""),
        {"code": code, "limit": limit},
    )  # fmt: skip
    return [dict(r) for r in result.mappings()]


async def close_ghost(session: AsyncSession, tenant_id: int, radacct_id: int) -> None:
    """Closes an open session its router says it does not have (Session-Not-Found)."""
    await session.execute(
        tenant_sql(tenant_id, """
            UPDATE radacct SET acctstoptime = now(), acctterminatecause = 'Session-Not-Found'
             WHERE {tenant} AND radacctid = :id AND acctstoptime IS NULL"""),
        {"id": radacct_id},
    )  # fmt: skip


async def forget_rate(session: AsyncSession, tenant_id: int, radacct_id: int, rate: Any) -> None:
    await session.execute(
        tenant_sql(tenant_id, """
            UPDATE radacct SET applied_rate = NULL
             WHERE {tenant} AND radacctid = :id AND applied_rate = :rate"""),
        {"id": radacct_id, "rate": rate},
    )  # fmt: skip
