"""SQL for an ISP's settings. The tenant row is the root of scoping: it is found by the
caller's own tenant id, never by anything the request names. The range checks are the
database's too (ck_tenant_*); a value that slips past the schema still becomes a 422."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import BadRequest, flush_mapping_violations
from api.models import Tenant

_CHECKS = {
    "ck_tenant_unused_voucher_days": "unused_voucher_days must be at least 1",
    "ck_tenant_acct_interim_interval": "acct_interim_interval must be 60 to 3600 seconds",
    "ck_tenant_usage_warning_percent": "usage_warning_percent must be 0 to 99",
    "ck_tenant_messages": "the message limits are out of range",
}


async def get(session: AsyncSession, tenant_id: int) -> Tenant | None:
    return await session.scalar(select(Tenant).where(Tenant.id == tenant_id))


async def update(session: AsyncSession, tenant: Tenant, values: dict[str, Any]) -> Tenant:
    for field, value in values.items():
        setattr(tenant, field, value)
    await flush_mapping_violations(session, _CHECKS, BadRequest)
    return tenant
