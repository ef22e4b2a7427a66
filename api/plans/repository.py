"""SQL for plans."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, flush_mapping_violations
from api.models import Plan, Voucher
from api.tenancy import scoped

HAS_VOUCHERS = (
    "This plan has vouchers and cannot be deleted; deactivate it instead (PATCH active=false)"
)
_CONFLICTS = {
    "uq_plan_tenant_id_name": "You already have a plan with this name",
    "fk_voucher_plan_id_plan": HAS_VOUCHERS,
}


async def list_(session: AsyncSession, tenant_id: int) -> Sequence[Plan]:
    return (await session.scalars(scoped(Plan, tenant_id).order_by(Plan.price, Plan.name))).all()


async def get(session: AsyncSession, tenant_id: int, plan_id: int) -> Plan | None:
    return await session.scalar(scoped(Plan, tenant_id).where(Plan.id == plan_id))


async def get_by_name(session: AsyncSession, tenant_id: int, name: str) -> Plan | None:
    return await session.scalar(scoped(Plan, tenant_id).where(Plan.name == name))


async def has_vouchers(session: AsyncSession, tenant_id: int, plan_id: int) -> bool:
    stmt = scoped(Voucher, tenant_id).where(Voucher.plan_id == plan_id)
    return bool(await session.scalar(select(stmt.exists())))


async def insert(session: AsyncSession, tenant_id: int, values: dict[str, Any]) -> Plan:
    plan = Plan(tenant_id=tenant_id, **values)
    session.add(plan)
    await _flush(session)
    await session.refresh(plan)
    return plan


async def update(session: AsyncSession, plan: Plan, values: dict[str, Any]) -> Plan:
    for field, value in values.items():
        setattr(plan, field, value)
    await _flush(session)
    return plan


async def delete(session: AsyncSession, plan: Plan) -> None:
    await session.delete(plan)
    await _flush(session)


async def _flush(session: AsyncSession) -> None:
    await flush_mapping_violations(session, _CONFLICTS, Conflict)
