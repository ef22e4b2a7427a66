"""SQL for routers. Uniqueness (name per tenant, IP globally) is the database's job; here its
violations become messages. Router health (api/routers/health.py) reads from here too."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import RowMapping, Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, flush_mapping_violations
from api.models import Router
from api.tenancy import Principal, principal_sql, router_scope, scoped

_CONFLICTS = {
    "uq_router_tenant_id_name": "You already have a router with this name",
    # Addresses are unique across ISPs (the packet's source names the router), but whose router
    # holds one is another ISP's business: the same words whoever has it.
    "uq_router_ip_address": "This IP address cannot be used for a router; use another",
}


def _visible(principal: Principal) -> Select[Router]:
    """The principal's routers: the tenant's, and for a tech only those allocated to them."""
    return scoped(Router, principal.tenant_id).where(router_scope(principal, Router.id))


async def list_(session: AsyncSession, principal: Principal) -> Sequence[Router]:
    return (await session.scalars(_visible(principal).order_by(Router.name))).all()


async def get(session: AsyncSession, principal: Principal, router_id: int) -> Router | None:
    return await session.scalar(_visible(principal).where(Router.id == router_id))


async def existing_ids(session: AsyncSession, tenant_id: int, router_ids: list[int]) -> set[int]:
    """Which of these ids are routers of the tenant."""
    stmt = scoped(Router, tenant_id).where(Router.id.in_(router_ids)).with_only_columns(Router.id)
    return set((await session.scalars(stmt)).all())


async def insert(session: AsyncSession, tenant_id: int, values: dict[str, Any]) -> Router:
    router = Router(tenant_id=tenant_id, **values)
    session.add(router)
    await _flush(session)
    await session.refresh(router)
    return router


async def update(session: AsyncSession, router: Router, values: dict[str, Any]) -> Router:
    for field, value in values.items():
        setattr(router, field, value)
    await _flush(session)
    return router


async def delete(session: AsyncSession, router: Router) -> None:
    await session.delete(router)
    await session.flush()


async def _flush(session: AsyncSession) -> None:
    await flush_mapping_violations(session, _CONFLICTS, Conflict)


# ------------------------------------------------------------------ health

# Per router, index probes on its own sessions, never a pass over the ISP's (a big ISP has
# millions): the sessions live now, and its last accounting packet. That is never later than a
# packet the router really sent. A router's stops, interims and Accounting-On all set
# acctupdatetime to the packet's time, but two closes do not come from it: another router's
# Start ('Superseded', the device moved) sets acctupdatetime to that router's packet time, so
# such a session counts at its last interim from its own router (start + the Acct-Session-Time
# that interim reported, which the close keeps: @SEEN@); the server's Session-Not-Found close
# (api/sessions/control.py, follow_up) sets only acctstoptime, which is therefore never used.
# @SEEN@ is at most GREATEST(start, update), equal to it for a session not superseded: so the
# top 100 sessions by GREATEST (ix_radacct_tenant_nas_last) hold the answer as soon as one of
# them was not superseded (every session below it counts at most its GREATEST); only a router
# whose 100 newest sessions were all superseded needs the pass over its own sessions.
_SQL = """
SELECT r.id, r.name, host(r.ip_address) AS ip_address, r.enabled,
       acct.last_accounting_at, live.n AS active_sessions,
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
  CROSS JOIN LATERAL (
      SELECT count(*) AS n FROM radacct a
       WHERE a.tenant_id = r.tenant_id AND a.nasipaddress = r.ip_address
         AND a.acctstoptime IS NULL
         AND a.acctupdatetime > now() - session_grace(t.acct_interim_interval)
  ) live
  CROSS JOIN LATERAL (
      SELECT CASE WHEN bool_or(top.cause IS DISTINCT FROM 'Superseded') THEN max(top.seen)
                  ELSE (SELECT max(@SEEN@) FROM radacct a
                         WHERE a.tenant_id = r.tenant_id AND a.nasipaddress = r.ip_address)
             END AS last_accounting_at
        FROM (SELECT a.acctterminatecause AS cause, @SEEN@ AS seen FROM radacct a
               WHERE a.tenant_id = r.tenant_id AND a.nasipaddress = r.ip_address
               ORDER BY GREATEST(a.acctstarttime, a.acctupdatetime) DESC NULLS LAST
               LIMIT 100) top
  ) acct
  LEFT JOIN LATERAL (
      SELECT c.id, c.kind, c.status, c.error_cause, c.detail, c.attempts, c.created_at,
             c.finished_at
        FROM coa_request c
       WHERE c.router_id = r.id AND c.tenant_id = r.tenant_id AND c.status <> 'pending'
       ORDER BY c.created_at DESC, c.id DESC
       LIMIT 1
  ) coa ON true
 WHERE {tenant:r} AND {routers:r.id} {router_filter}
 ORDER BY r.name, r.id
""".replace(
    "@SEEN@",
    """CASE WHEN a.acctterminatecause = 'Superseded'
            THEN a.acctstarttime + make_interval(secs => COALESCE(a.acctsessiontime, 0))
            ELSE GREATEST(a.acctstarttime, a.acctupdatetime) END""",
)
# The filter is fixed text; the router id is a bound parameter.
_ONE = {"{router_filter}": "AND r.id = :r"}
_ALL = {"{router_filter}": ""}


async def health(
    session: AsyncSession, principal: Principal, *, idle: timedelta, router_id: int | None = None
) -> Sequence[RowMapping]:
    """Each router the principal sees (or just `router_id`) with its accounting and last CoA."""
    sql, params = _SQL, dict[str, Any](idle=idle)
    filters = _ALL if router_id is None else _ONE
    for name, value in filters.items():
        sql = sql.replace(name, value)
    if router_id is not None:
        params["r"] = router_id
    return (await session.execute(principal_sql(principal, sql), params)).mappings().all()
