"""SQL for subscribers, monthly plans and IP pools. Uniqueness (a username per ISP whatever
its case, an address and a MAC per ISP, plan and pool names) is the database's job; here its
violations become messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, flush_mapping_violations
from api.models import IpPool, Subscriber, SubscriberPlan
from api.tenancy import Principal, scoped, subscriber_scope, tenant_sql

M = TypeVar("M", Subscriber, SubscriberPlan, IpPool)

_CONFLICTS = {
    "uq_subscriber_tenant_id_username": "Another subscriber of yours has this username",
    "uq_subscriber_tenant_id_ip_address": "Another subscriber of yours has this IP address",
    "uq_subscriber_tenant_id_mac": "Another subscriber of yours has this MAC address",
    "uq_subscriber_plan_tenant_id_name": "You already have a monthly plan with this name",
    "uq_ip_pool_tenant_id_name": "You already have an IP pool with this name",
    # Deleting what subscribers still use.
    "fk_subscriber_tenant_id_subscriber_plan": "Subscribers are on this plan: move them first",
    "fk_subscriber_tenant_id_ip_pool": "Subscribers have addresses in this pool: change them first",
}
LIST_MAX = 500


def _visible(principal: Principal) -> Select[Subscriber]:
    """The principal's subscribers: the ISP's; a tech's, those of their zones and routers."""
    return scoped(Subscriber, principal.tenant_id).where(
        subscriber_scope(principal, Subscriber.zone_id, Subscriber.router_id)
    )


async def list_(
    session: AsyncSession, principal: Principal, *, zone_id: int | None, status: str | None,
    after_id: int, limit: int,
) -> Sequence[Subscriber]:  # fmt: skip
    stmt = _visible(principal).where(Subscriber.id > after_id)
    if zone_id is not None:
        stmt = stmt.where(Subscriber.zone_id == zone_id)
    if status is not None:
        stmt = stmt.where(Subscriber.status == status)
    return (await session.scalars(stmt.order_by(Subscriber.id).limit(limit))).all()


async def get(session: AsyncSession, principal: Principal, subscriber_id: int) -> Subscriber | None:
    return await session.scalar(_visible(principal).where(Subscriber.id == subscriber_id))


async def pool_holding(session: AsyncSession, tenant_id: int, ip: str) -> int | None:
    """The narrowest of the ISP's pools holding `ip` (not as its network or broadcast
    address), or None."""
    return await session.scalar(
        tenant_sql(tenant_id, """
            SELECT id FROM ip_pool
             WHERE {tenant} AND cidr >>= CAST(:ip AS inet)
               AND (masklen(cidr) >= 31
                    OR host(CAST(:ip AS inet)) NOT IN (host(cidr), host(broadcast(cidr))))
             ORDER BY masklen(cidr) DESC LIMIT 1"""),
        {"ip": ip},
    )  # fmt: skip


async def get_own(
    session: AsyncSession, model: type[M], tenant_id: int, object_id: int
) -> M | None:
    """A plan or pool of the ISP (every staff role with the permission sees them all)."""
    return await session.scalar(scoped(model, tenant_id).where(model.id == object_id))


async def list_own(session: AsyncSession, model: type[M], tenant_id: int) -> Sequence[M]:
    return (await session.scalars(scoped(model, tenant_id).order_by(model.name))).all()


async def clear_login_block(session: AsyncSession, tenant_id: int, subscriber_id: int) -> None:
    """Forgets the subscriber's wrong passwords and ends its block (subscriber_auth_failure and
    subscriber.login_blocked_until, migration 0025): a new password, or staff unblocking it."""
    await session.execute(
        tenant_sql(tenant_id, "DELETE FROM subscriber_auth_failure"
                              " WHERE {tenant} AND subscriber_id = :id"),
        {"id": subscriber_id},
    )  # fmt: skip
    await session.execute(
        tenant_sql(tenant_id, "UPDATE subscriber SET login_blocked_until = NULL"
                              " WHERE {tenant} AND id = :id AND login_blocked_until IS NOT NULL"),
        {"id": subscriber_id},
    )  # fmt: skip


async def add(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await flush(session)
    await session.refresh(row)


async def remove(session: AsyncSession, row: Any) -> None:
    await session.delete(row)
    await flush(session)


async def flush(session: AsyncSession) -> None:
    await flush_mapping_violations(session, _CONFLICTS, Conflict)
