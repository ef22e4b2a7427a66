"""SQL for vouchers. Code uniqueness per tenant is the database's (uq_voucher_tenant_id_code):
a batch is one INSERT that skips codes already taken and reports which went in. A voucher's
state comes from voucher_state(), the same SQL FreeRADIUS decides logins with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    RowMapping,
    Select,
    Table,
    Text,
    column,
    func,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Plan, Router, Tenant, Voucher, VoucherDevice
from api.plans.units import rate_limit_string
from api.tenancy import in_tenant, scoped, tenant_sql
from api.vouchers.schemas import SearchTerms, VoucherFilter

_INSERT_BATCH = """
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
"""


async def insert_codes(
    session: AsyncSession,
    plan: Plan,
    batch_id: str,
    codes: Sequence[str],
    *,
    device_limit: int | None = None,
) -> list[str]:
    """Inserts vouchers carrying a copy of the plan's terms (`device_limit` overrides the
    plan's); returns the codes that were free."""
    result = await session.execute(
        tenant_sql(plan.tenant_id, _INSERT_BATCH),
        {
            "plan_id": plan.id,
            "batch_id": batch_id,
            "duration_seconds": plan.duration_seconds,
            "time_quota_seconds": plan.time_quota_seconds,
            "data_quota_bytes": plan.data_quota_bytes,
            "rate_limit": rate_limit_string(plan.upload_kbps, plan.download_kbps),
            "device_limit": plan.device_limit if device_limit is None else device_limit,
            "mac_binding": plan.mac_binding,
            "codes": list(codes),
        },
    )
    return list(result.scalars())


# Where a list of vouchers goes on from: the (issued_at, id) of the last one shown.
Cursor = tuple[datetime, int]


async def cursor(session: AsyncSession, tenant_id: int, voucher_id: int) -> Cursor | None:
    stmt = scoped(Voucher, tenant_id).where(Voucher.id == voucher_id)
    row = (await session.execute(stmt.with_only_columns(Voucher.issued_at, Voucher.id))).first()
    return None if row is None else (row[0], row[1])


def _filtered(stmt: Select[Any], query: VoucherFilter, after: Cursor | None) -> Select[Any]:
    """The filter's conditions and the page: newest first, on ix_voucher_tenant_id_issued_at
    (tenant_id, issued_at DESC, id DESC), so a page deep in a million vouchers reads one page
    of the index."""
    if query.status is not None:
        stmt = stmt.where(Voucher.status == query.status)
    if query.plan_id is not None:
        stmt = stmt.where(Voucher.plan_id == query.plan_id)
    if query.batch_id is not None:
        stmt = stmt.where(Voucher.batch_id == str(query.batch_id))
    if after is not None:
        stmt = stmt.where(tuple_(Voucher.issued_at, Voucher.id) < tuple_(*after))
    stmt = stmt.order_by(Voucher.issued_at.desc(), Voucher.id.desc())
    return stmt.limit(query.limit).offset(query.offset)


async def list_(
    session: AsyncSession, tenant_id: int, query: VoucherFilter, after: Cursor | None = None
) -> Sequence[Voucher]:
    stmt = _filtered(scoped(Voucher, tenant_id), query, after)
    return (await session.scalars(stmt)).all()


# The vouchers a search finds, each through an index: by code (uq_voucher_tenant_id_code), by
# the phone on the voucher (ix_voucher_tenant_id_phone), and through the payments that bought or
# extended one, by their phone (ix_payment_tenant_id_phone) or receipt
# (uq_payment_tenant_id_receipt), then their grant (uq_payment_grant_payment_id).
_FOUND = """
    SELECT v.id FROM voucher v WHERE {tenant:v} AND (v.code = :code OR v.phone = :phone)
    UNION
    SELECT g.voucher_id FROM payment p JOIN payment_grant g ON g.payment_id = p.id
     WHERE {tenant:p} AND {tenant:g} AND (p.phone = :phone OR p.receipt = :receipt)
"""


async def search(
    session: AsyncSession,
    tenant_id: int,
    terms: SearchTerms,
    query: VoucherFilter,
    after: Cursor | None = None,
) -> Sequence[Voucher]:
    found = tenant_sql(tenant_id, _FOUND).bindparams(
        code=terms.code, phone=terms.phone, receipt=terms.receipt
    )
    ids = found.columns(column("id", BigInteger)).subquery("found")
    stmt = scoped(Voucher, tenant_id).where(Voucher.id.in_(select(ids.c.id)))
    return (await session.scalars(_filtered(stmt, query, after))).all()


async def get_by_code(session: AsyncSession, tenant_id: int, code: str) -> Voucher | None:
    return await session.scalar(scoped(Voucher, tenant_id).where(Voucher.code == code))


# The whole voucher row, as voucher_state() takes it: `voucher_state(voucher, ...)`.
_VOUCHER_ROW = cast(Table, Voucher.__table__).table_valued()
_STATE_COLUMNS = (
    column("state", Text),
    column("reason", Text),
    column("used_seconds", BigInteger),
    column("used_bytes", BigInteger),
    column("seconds_left", BigInteger),
    column("bytes_left", BigInteger),
    column("usable_until", DateTime(timezone=True)),
)


async def get_with_state(
    session: AsyncSession, tenant_id: int, code: str
) -> tuple[Voucher, dict[str, Any]] | None:
    """The voucher and what voucher_state(voucher, tenant.unused_voucher_days) says now."""
    state = (
        func.voucher_state(_VOUCHER_ROW, Tenant.unused_voucher_days)
        .table_valued(*_STATE_COLUMNS)
        .lateral("s")
    )
    stmt = (
        scoped(Voucher, tenant_id)
        .join(Tenant, Tenant.id == Voucher.tenant_id)
        .join(state, true())
        .add_columns(*state.c)
        .where(Voucher.code == code)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    voucher, *values = row
    return voucher, dict(zip(state.c.keys(), values, strict=True))


async def list_devices(
    session: AsyncSession, tenant_id: int, voucher_id: int
) -> Sequence[RowMapping]:
    stmt = (
        scoped(VoucherDevice, tenant_id)
        .outerjoin(
            Router,
            (Router.id == VoucherDevice.router_id) & (Router.tenant_id == VoucherDevice.tenant_id),
        )
        .where(VoucherDevice.voucher_id == voucher_id)
        .with_only_columns(
            VoucherDevice.mac,
            VoucherDevice.first_seen,
            Router.id.label("router_id"),
            Router.name.label("router_name"),
        )
        .order_by(VoucherDevice.first_seen, VoucherDevice.mac)
    )
    return (await session.execute(stmt)).mappings().all()


async def revoke(session: AsyncSession, voucher: Voucher) -> bool:
    """Marks the voucher revoked unless it already is; True if this call revoked it. One
    guarded UPDATE, so two revokes at once cannot both count."""
    stmt = (
        update(Voucher)
        .where(in_tenant(Voucher, voucher.tenant_id), Voucher.id == voucher.id)
        .where(Voucher.status != "revoked")
        .values(status="revoked", revoked_at=func.now())
        .returning(Voucher.id)
    )
    changed = (await session.execute(stmt)).first() is not None
    await session.refresh(voucher)
    return changed


async def update_voucher(session: AsyncSession, voucher: Voucher, values: dict[str, Any]) -> None:
    for field, value in values.items():
        setattr(voucher, field, value)
    await session.flush()


async def batch_head(session: AsyncSession, tenant_id: int, batch_id: str) -> RowMapping:
    """How many vouchers a batch has (0: no such batch), with its ISP's name and slug."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT count(*) AS n, min(t.name) AS isp, min(t.slug) AS slug
                 FROM voucher v JOIN tenant t ON t.id = v.tenant_id
                WHERE {tenant:v} AND v.batch_id = CAST(:b AS uuid)""",
        ),
        {"b": batch_id},
    )
    return result.mappings().one()


async def batch_cards(
    session: AsyncSession, tenant_id: int, batch_id: str, limit: int, offset: int
) -> list[tuple[str, str, int]]:
    """(code, package, price) of a slice of the batch, in issue order."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT v.code, p.name, p.price
                 FROM voucher v JOIN plan p ON p.id = v.plan_id
                WHERE {tenant:v} AND v.batch_id = CAST(:b AS uuid)
                ORDER BY v.id LIMIT :n OFFSET :skip""",
        ),
        {"b": batch_id, "n": limit, "skip": offset},
    )
    return [(r.code, r.name, r.price) for r in result]


async def lengthen(
    session: AsyncSession, tenant_id: int, code: str, seconds: int
) -> RowMapping | None:
    """More time on a live (unused or active) voucher, given by staff: its validity, its end and
    its time quota (if it has one) grow by `seconds`. The voucher's id and durations before and
    after, or None when no live voucher has the code. The row lock orders it with a login
    starting its clock (radius_post_auth) and with a repurchase's extension."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """WITH live AS (
                 SELECT v.id, v.duration_seconds, v.time_quota_seconds
                   FROM voucher v JOIN tenant t ON t.id = v.tenant_id
                  WHERE {tenant:v} AND v.code = :code
                    AND (voucher_state(v, t.unused_voucher_days)).state IN ('unused', 'active')
                    FOR UPDATE OF v)
               UPDATE voucher u SET
                   duration_seconds = u.duration_seconds + :secs,
                   expires_at = u.expires_at + make_interval(secs => :secs),
                   time_quota_seconds = u.time_quota_seconds + :secs
                 FROM live
                WHERE u.id = live.id AND {tenant:u}
            RETURNING u.id, live.duration_seconds AS duration_before,
                      u.duration_seconds AS duration_after,
                      live.time_quota_seconds AS time_quota_before,
                      u.time_quota_seconds AS time_quota_after""",
        ),
        {"code": code, "secs": seconds},
    )
    return result.mappings().first()


async def grants_of(session: AsyncSession, tenant_id: int, voucher_id: int) -> list[RowMapping]:
    """The payments that bought or extended the voucher, oldest first."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT g.kind, g.amount, g.created_at, p.receipt, p.phone, p.source, p.note
                 FROM payment_grant g JOIN payment p ON p.id = g.payment_id
                WHERE {tenant:g} AND g.voucher_id = :v
                ORDER BY g.id""",
        ),
        {"v": voucher_id},
    )
    return list(result.mappings())
