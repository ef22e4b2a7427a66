"""SQL behind the dashboard's subscriber pages: the list with its search and filters (a zone
counts with every zone below it), and what accounting says of each subscriber (online now, the
last session, recent sessions, usage this month).

A subscriber's sessions are part of the subscriber: whoever may see the subscriber
(`subscriber_scope`: a tech, those of their zones and routers) sees its sessions, on whichever
router they ran. The functions reading radacct therefore take ids the caller has already found
through that scope, never a Principal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import RadAcct, Subscriber, Tenant, Zone
from api.tenancy import Principal, in_tenant, scoped, subscriber_scope, tenant_sql

# Nairobi's month: "this month" for an ISP in Kenya.
MONTH_START = (
    "date_trunc('month', now() AT TIME ZONE 'Africa/Nairobi') AT TIME ZONE 'Africa/Nairobi'"
)


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def online_now(tenant_id: int) -> ColumnElement[bool]:
    """The subscriber has a session open that its router keeps updating (the same grace the
    sessions page and the device limit use)."""
    grace = (
        select(text("session_grace(acct_interim_interval)"))
        .select_from(Tenant)
        .where(Tenant.id == tenant_id)
        .scalar_subquery()
    )
    return exists().where(
        in_tenant(RadAcct, tenant_id),
        RadAcct.subscriber_id == Subscriber.id,
        RadAcct.acctstoptime.is_(None),
        RadAcct.acctupdatetime > text("now()") - grace,
    )


def _in_zone_or_below(tenant_id: int, zone_id: int) -> ColumnElement[bool]:
    below = scoped(Zone, tenant_id).where(Zone.path.contains([zone_id])).with_only_columns(Zone.id)
    return Subscriber.zone_id.in_(below)


def _search(tenant_id: int, q: str, phone: str | None) -> ColumnElement[bool]:
    pattern = _like(q)
    found: list[ColumnElement[bool]] = [
        Subscriber.username.ilike(pattern, escape="\\"),
        Subscriber.name.ilike(pattern, escape="\\"),
        Subscriber.phone.ilike(pattern, escape="\\"),
    ]
    if phone is not None:
        found.append(Subscriber.phone == phone)
    return or_(*found)


async def page(
    session: AsyncSession, principal: Principal, *, q: str = "", phone: str | None = None,
    zone_id: int | None = None, status: str | None = None, online: bool = False,
    before: int | None = None, limit: int = 30,
) -> Sequence[Subscriber]:  # fmt: skip
    """Newest first, `before` the id of the last row of the page before (keyset)."""
    tenant_id = principal.tenant_id
    stmt: Select[Any] = scoped(Subscriber, tenant_id).where(
        subscriber_scope(principal, Subscriber.zone_id, Subscriber.router_id)
    )
    if q:
        stmt = stmt.where(_search(tenant_id, q, phone))
    if zone_id is not None:
        stmt = stmt.where(_in_zone_or_below(tenant_id, zone_id))
    if status is not None:
        stmt = stmt.where(Subscriber.status == status)
    if online:
        stmt = stmt.where(online_now(tenant_id))
    if before is not None:
        stmt = stmt.where(Subscriber.id < before)
    return (await session.scalars(stmt.order_by(Subscriber.id.desc()).limit(limit))).all()


async def last_sessions(
    session: AsyncSession, tenant_id: int, subscriber_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Each subscriber's latest session (when it started and stopped, whether it is live, the
    router it is at), in one statement for a page of subscribers."""
    if not subscriber_ids:
        return {}
    rows = await session.execute(
        tenant_sql(tenant_id, """
            SELECT s.id, l.acctstarttime AS started_at, l.acctstoptime AS stopped_at,
                   l.live, host(l.framedipaddress) AS ip_address, r.name AS router_name
              FROM unnest(CAST(:ids AS bigint[])) AS s(id)
              JOIN LATERAL (
                   SELECT a.acctstarttime, a.acctstoptime, a.nasipaddress, a.framedipaddress,
                          a.acctstoptime IS NULL
                          AND COALESCE(a.acctupdatetime, a.acctstarttime) > now() - (
                              SELECT session_grace(t.acct_interim_interval) FROM tenant t
                               WHERE t.id = :tenant_id) AS live
                     FROM radacct a
                    WHERE {tenant:a} AND a.subscriber_id = s.id
                    ORDER BY a.acctstarttime DESC NULLS LAST, a.radacctid DESC
                    LIMIT 1) l ON true
              LEFT JOIN router r ON {tenant:r} AND r.ip_address = l.nasipaddress"""),
        {"ids": subscriber_ids},
    )  # fmt: skip
    return {row["id"]: dict(row) for row in rows.mappings()}


async def recent_sessions(
    session: AsyncSession, tenant_id: int, subscriber_id: int, limit: int = 15
) -> Sequence[Any]:
    rows = await session.execute(
        tenant_sql(tenant_id, """
            SELECT a.radacctid AS id, a.acctstarttime AS started_at, a.acctstoptime AS stopped_at,
                   COALESCE(a.acctsessiontime, 0) AS seconds,
                   COALESCE(a.acctinputoctets, 0) AS bytes_in,
                   COALESCE(a.acctoutputoctets, 0) AS bytes_out,
                   host(a.framedipaddress) AS ip_address, a.callingstationid AS mac,
                   a.acctterminatecause AS cause, r.name AS router_name
              FROM radacct a
              LEFT JOIN router r ON {tenant:r} AND r.ip_address = a.nasipaddress
             WHERE {tenant:a} AND a.subscriber_id = :s
             ORDER BY a.acctstarttime DESC NULLS LAST, a.radacctid DESC
             LIMIT :limit"""),
        {"s": subscriber_id, "limit": limit},
    )  # fmt: skip
    return rows.mappings().all()


async def usage_this_month(session: AsyncSession, tenant_id: int, subscriber_id: int) -> int:
    """Bytes both ways of the sessions started this (Nairobi) month."""
    used = await session.scalar(
        tenant_sql(tenant_id, f"""
            SELECT COALESCE(sum(COALESCE(a.acctinputoctets, 0) + COALESCE(a.acctoutputoctets, 0)),
                            0)
              FROM radacct a
             WHERE {{tenant:a}} AND a.subscriber_id = :s
               AND a.acctstarttime >= {MONTH_START}"""),  # noqa: S608 - a fixed fragment
        {"s": subscriber_id},
    )  # fmt: skip
    return int(used or 0)
