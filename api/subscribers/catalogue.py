"""What subscribers are sold and given: the ISP's monthly plans (price, rates with an optional
burst, an optional monthly data cap) and its IP pools (the networks fixed addresses come from).
Owners and admins keep them; everyone who works on subscribers reads them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.models import IpPool, SubscriberPlan
from api.plans.units import rate_limit_string
from api.subscribers import repository
from api.subscribers.schemas import PlanCreate, PlanUpdate, PoolCreate, PoolUpdate
from api.tenancy import Principal


def rate_limit(data: PlanCreate) -> str:
    """Mikrotik-Rate-Limit: "rx/tx" (upload/download as the router sees them), and with a
    burst "rx/tx burst-rx/burst-tx threshold-rx/threshold-tx seconds/seconds", the threshold at
    three quarters of the plan's rate (burst while the average stays below it)."""
    base = rate_limit_string(data.upload_kbps, data.download_kbps)
    if data.burst_upload_kbps is None or data.burst_download_kbps is None:
        return base
    burst = rate_limit_string(data.burst_upload_kbps, data.burst_download_kbps)
    threshold = rate_limit_string(data.upload_kbps * 3 // 4, data.download_kbps * 3 // 4)
    return f"{base} {burst} {threshold} {data.burst_seconds}/{data.burst_seconds}"


async def list_plans(session: AsyncSession, principal: Principal) -> Sequence[SubscriberPlan]:
    return await repository.list_own(session, SubscriberPlan, principal.tenant_id)


async def get_plan(session: AsyncSession, principal: Principal, plan_id: int) -> SubscriberPlan:
    plan = await repository.get_own(session, SubscriberPlan, principal.tenant_id, plan_id)
    if plan is None:
        raise NotFound("Monthly plan not found")
    return plan


async def create_plan(
    session: AsyncSession, principal: Principal, data: PlanCreate, meta: audit.Meta = None
) -> SubscriberPlan:
    plan = SubscriberPlan(tenant_id=principal.tenant_id, rate_limit=rate_limit(data),
                          **data.model_dump())  # fmt: skip
    await repository.add(session, plan)
    await audit.changed(session, principal, "subscriber_plan.create", "subscriber_plan", plan.id,
                        {}, audit.snapshot(plan), meta)  # fmt: skip
    return plan


async def update_plan(
    session: AsyncSession, principal: Principal, plan_id: int, data: PlanUpdate,
    meta: audit.Meta = None,
) -> SubscriberPlan:  # fmt: skip
    """Name, price and whether it is offered; rates are fixed once made (a new plan for new
    rates), so no subscriber's speed changes behind their back."""
    plan = await get_plan(session, principal, plan_id)
    before = audit.snapshot(plan)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(plan, field, value)
    await repository.flush(session)
    await audit.changed(session, principal, "subscriber_plan.update", "subscriber_plan", plan.id,
                        before, audit.snapshot(plan), meta)  # fmt: skip
    return plan


async def delete_plan(
    session: AsyncSession, principal: Principal, plan_id: int, meta: audit.Meta = None
) -> None:
    plan = await get_plan(session, principal, plan_id)
    before = audit.snapshot(plan)
    await repository.remove(session, plan)
    await audit.changed(session, principal, "subscriber_plan.delete", "subscriber_plan", plan_id,
                        before, {}, meta)  # fmt: skip


async def list_pools(session: AsyncSession, principal: Principal) -> Sequence[IpPool]:
    return await repository.list_own(session, IpPool, principal.tenant_id)


async def get_pool(session: AsyncSession, principal: Principal, pool_id: int) -> IpPool:
    pool = await repository.get_own(session, IpPool, principal.tenant_id, pool_id)
    if pool is None:
        raise NotFound("IP pool not found")
    return pool


async def create_pool(
    session: AsyncSession, principal: Principal, data: PoolCreate, meta: audit.Meta = None
) -> IpPool:
    pool = IpPool(tenant_id=principal.tenant_id, **data.model_dump())
    await repository.add(session, pool)
    await audit.changed(session, principal, "ip_pool.create", "ip_pool", pool.id, {},
                        audit.snapshot(pool), meta)  # fmt: skip
    return pool


async def update_pool(
    session: AsyncSession, principal: Principal, pool_id: int, data: PoolUpdate,
    meta: audit.Meta = None,
) -> IpPool:  # fmt: skip
    """Its name only: a pool's network is fixed while addresses are handed out of it."""
    pool = await get_pool(session, principal, pool_id)
    before = audit.snapshot(pool)
    pool.name = data.name
    await repository.flush(session)
    await audit.changed(session, principal, "ip_pool.update", "ip_pool", pool.id, before,
                        audit.snapshot(pool), meta)  # fmt: skip
    return pool


async def delete_pool(
    session: AsyncSession, principal: Principal, pool_id: int, meta: audit.Meta = None
) -> None:
    pool = await get_pool(session, principal, pool_id)
    before = audit.snapshot(pool)
    await repository.remove(session, pool)
    await audit.changed(session, principal, "ip_pool.delete", "ip_pool", pool_id, before, {}, meta)
