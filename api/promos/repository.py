"""SQL for promo codes, every query scoped by tenant_sql() (text: row locks, ON CONFLICT and
the pending-purchase count read better as SQL). Row locks last until the caller's transaction
ends."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql

# Purchases awaiting payment that hold a use. The (tenant_id, created_at) index finds them.
_PENDING = """
    SELECT count(*) FROM stk_request r
     WHERE r.tenant_id = p.tenant_id AND r.promo_code_id = p.id AND r.status = 'pending'
       AND r.created_at > now() - interval '10 minutes'"""
# Every staff read: one ISP's codes (or one of them), newest first.
_SELECT = f"""
    SELECT p.id, p.code, p.kind, p.value, p.plan_id, p.starts_at, p.ends_at, p.max_uses,
           p.uses, p.active, p.created_at, ({_PENDING}) AS pending,
           CASE WHEN NOT p.active THEN 'inactive'
                WHEN p.ends_at <= now() THEN 'ended'
                WHEN p.max_uses IS NOT NULL AND p.uses >= p.max_uses THEN 'used_up'
                WHEN p.starts_at > now() THEN 'scheduled'
                ELSE 'active' END AS status
      FROM promo_code p
     WHERE {{tenant:p}} AND (CAST(:id AS integer) IS NULL OR p.id = :id)
     ORDER BY p.created_at DESC, p.id DESC"""  # noqa: S608 (constant text, no input)


async def list_(session: AsyncSession, tenant_id: int) -> list[dict[str, Any]]:
    result = await session.execute(tenant_sql(tenant_id, _SELECT), {"id": None})
    return [dict(row) for row in result.mappings()]


async def get(session: AsyncSession, tenant_id: int, promo_id: int) -> dict[str, Any] | None:
    result = await session.execute(tenant_sql(tenant_id, _SELECT), {"id": promo_id})
    promo = result.mappings().first()
    return dict(promo) if promo is not None else None


async def lock_by_code(session: AsyncSession, tenant_id: int, code: str) -> RowMapping | None:
    """The code's promo, locked, with whether its window has opened and closed."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT id, code, kind, value, plan_id, max_uses, uses, active,
                   coalesce(starts_at > now(), false) AS not_started,
                   coalesce(ends_at <= now(), false) AS ended
              FROM promo_code
             WHERE {tenant} AND code = :code
               FOR UPDATE""",
        ),
        {"code": code},
    )
    return result.mappings().first()


async def pending(session: AsyncSession, tenant_id: int, promo_id: int) -> int:
    """Uses held by purchases awaiting payment."""
    held = await session.scalar(
        tenant_sql(
            tenant_id,
            f"SELECT ({_PENDING}) FROM promo_code p WHERE {{tenant:p}} AND p.id = :id",  # noqa: S608
        ),
        {"id": promo_id},
    )
    return held or 0


async def count_use(session: AsyncSession, tenant_id: int, promo_id: int) -> None:
    """One more paid use (the id comes from the ISP's own paid purchase)."""
    await session.execute(
        tenant_sql(tenant_id, "UPDATE promo_code SET uses = uses + 1 WHERE id = :id AND {tenant}"),
        {"id": promo_id},
    )


async def insert(session: AsyncSession, tenant_id: int, values: dict[str, Any]) -> int | None:
    """The new promo's id, or None if the ISP already has that code."""
    return await session.scalar(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO promo_code (tenant_id, code, kind, value, plan_id, starts_at, ends_at,
                                    max_uses)
            VALUES (:tenant_id, :code, :kind, :value, :plan_id, :starts_at, :ends_at, :max_uses)
            ON CONFLICT (tenant_id, code) DO NOTHING
            RETURNING id""",
        ),
        values,
    )


async def lock(session: AsyncSession, tenant_id: int, promo_id: int) -> dict[str, Any] | None:
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT * FROM promo_code WHERE id = :id AND {tenant} FOR UPDATE"),
        {"id": promo_id},
    )
    promo = result.mappings().first()
    return dict(promo) if promo is not None else None


_TERMS = ("kind", "value", "plan_id", "starts_at", "ends_at", "max_uses", "active")


async def update(
    session: AsyncSession, tenant_id: int, promo_id: int, values: dict[str, Any]
) -> None:
    """Writes every term from `values` (the promo as it is to be, not a patch)."""
    await session.execute(
        tenant_sql(
            tenant_id,
            """
            UPDATE promo_code
               SET kind = :kind, value = :value, plan_id = :plan_id, starts_at = :starts_at,
                   ends_at = :ends_at, max_uses = :max_uses, active = :active
             WHERE id = :id AND {tenant}""",
        ),
        {k: values[k] for k in _TERMS} | {"id": promo_id},
    )


async def deactivate(session: AsyncSession, tenant_id: int, promo_id: int) -> None:
    await session.execute(
        tenant_sql(tenant_id, "UPDATE promo_code SET active = false WHERE id = :id AND {tenant}"),
        {"id": promo_id},
    )


async def plan_exists(session: AsyncSession, tenant_id: int, plan_id: int) -> bool:
    exists = await session.scalar(
        tenant_sql(tenant_id, "SELECT EXISTS (SELECT 1 FROM plan WHERE id = :id AND {tenant})"),
        {"id": plan_id},
    )
    return bool(exists)
