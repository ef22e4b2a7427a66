"""SQL for vouchers. Code uniqueness per tenant is the database's (uq_voucher_tenant_id_code):
a batch is one INSERT that skips codes already taken and reports which went in."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Plan, Voucher
from api.plans.units import rate_limit_string
from api.tenancy import scoped
from api.vouchers.schemas import VoucherFilter

_INSERT_BATCH = text("""
    INSERT INTO voucher (tenant_id, plan_id, code, batch_id, duration_seconds,
                         time_quota_seconds, data_quota_bytes, rate_limit, device_limit,
                         mac_binding)
    SELECT CAST(:tenant_id AS integer), CAST(:plan_id AS integer), code,
           CAST(:batch_id AS uuid), CAST(:duration_seconds AS integer),
           CAST(:time_quota_seconds AS bigint), CAST(:data_quota_bytes AS bigint),
           CAST(:rate_limit AS text), CAST(:device_limit AS integer),
           CAST(:mac_binding AS boolean)
      FROM unnest(CAST(:codes AS text[])) AS code
    ON CONFLICT (tenant_id, code) DO NOTHING
    RETURNING code
""")


async def insert_codes(
    session: AsyncSession, plan: Plan, batch_id: str, codes: Sequence[str]
) -> list[str]:
    """Inserts vouchers carrying a copy of the plan's terms; returns the codes that were free."""
    result = await session.execute(
        _INSERT_BATCH,
        {
            "tenant_id": plan.tenant_id,
            "plan_id": plan.id,
            "batch_id": batch_id,
            "duration_seconds": plan.duration_seconds,
            "time_quota_seconds": plan.time_quota_seconds,
            "data_quota_bytes": plan.data_quota_bytes,
            "rate_limit": rate_limit_string(plan.upload_kbps, plan.download_kbps),
            "device_limit": plan.device_limit,
            "mac_binding": plan.mac_binding,
            "codes": list(codes),
        },
    )
    return list(result.scalars())


async def list_(session: AsyncSession, tenant_id: int, query: VoucherFilter) -> Sequence[Voucher]:
    stmt = scoped(Voucher, tenant_id)
    if query.status is not None:
        stmt = stmt.where(Voucher.status == query.status)
    if query.plan_id is not None:
        stmt = stmt.where(Voucher.plan_id == query.plan_id)
    if query.batch_id is not None:
        stmt = stmt.where(Voucher.batch_id == str(query.batch_id))
    stmt = stmt.order_by(Voucher.issued_at.desc(), Voucher.id.desc())
    return (await session.scalars(stmt.limit(query.limit).offset(query.offset))).all()


async def get_by_code(session: AsyncSession, tenant_id: int, code: str) -> Voucher | None:
    return await session.scalar(scoped(Voucher, tenant_id).where(Voucher.code == code))
