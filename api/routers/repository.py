"""SQL for routers. Uniqueness (name per tenant, IP globally) is the database's job; here its
violations become messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, flush_mapping_violations
from api.models import Router
from api.tenancy import scoped

_CONFLICTS = {
    "uq_router_tenant_id_name": "You already have a router with this name",
    # Addresses are unique across ISPs (the packet's source names the router), but whose router
    # holds one is another ISP's business: the same words whoever has it.
    "uq_router_ip_address": "This IP address cannot be used for a router; use another",
}


async def list_(session: AsyncSession, tenant_id: int) -> Sequence[Router]:
    return (await session.scalars(scoped(Router, tenant_id).order_by(Router.name))).all()


async def get(session: AsyncSession, tenant_id: int, router_id: int) -> Router | None:
    return await session.scalar(scoped(Router, tenant_id).where(Router.id == router_id))


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
