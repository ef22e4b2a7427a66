"""Plans: price, validity, quotas and speeds that vouchers copy when they are issued."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import Conflict, NotFound
from api.models import Plan
from api.plans import repository
from api.plans.schemas import PlanCreate, PlanUpdate
from api.tenancy import Principal


async def list_plans(session: AsyncSession, principal: Principal) -> Sequence[Plan]:
    return await repository.list_(session, principal.tenant_id)


async def get_plan(session: AsyncSession, principal: Principal, plan_id: int) -> Plan:
    plan = await repository.get(session, principal.tenant_id, plan_id)
    if plan is None:
        raise NotFound("Plan not found")
    return plan


async def get_plan_by_name(session: AsyncSession, principal: Principal, name: str) -> Plan:
    plan = await repository.get_by_name(session, principal.tenant_id, name)
    if plan is None:
        raise NotFound(f"No plan named {name!r}")
    return plan


async def create_plan(
    session: AsyncSession, principal: Principal, data: PlanCreate, meta: audit.Meta = None
) -> Plan:
    plan = await repository.insert(session, principal.tenant_id, data.model_dump())
    await audit.changed(
        session, principal, "plan.create", "plan", plan.id, {}, audit.snapshot(plan), meta
    )
    return plan


async def update_plan(
    session: AsyncSession,
    principal: Principal,
    plan_id: int,
    data: PlanUpdate,
    meta: audit.Meta = None,
) -> Plan:
    """Vouchers already issued keep the terms they were sold with (they hold a copy)."""
    plan = await get_plan(session, principal, plan_id)
    values = data.model_dump(exclude_unset=True)
    before = audit.snapshot(plan)
    await repository.update(session, plan, values)
    after = audit.snapshot(plan)
    await audit.changed(session, principal, "plan.update", "plan", plan.id, before, after, meta)
    return plan


async def delete_plan(
    session: AsyncSession, principal: Principal, plan_id: int, meta: audit.Meta = None
) -> None:
    plan = await get_plan(session, principal, plan_id)
    if await repository.has_vouchers(session, principal.tenant_id, plan.id):
        raise Conflict(repository.HAS_VOUCHERS)
    before = audit.snapshot(plan)
    await repository.delete(session, plan)
    await audit.changed(session, principal, "plan.delete", "plan", plan_id, before, {}, meta)
