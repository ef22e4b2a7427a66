"""SQL for fair usage, one ISP at a time: its rules, the rules crossed now (fair_usage_state,
which FreeRADIUS reads) and the rate each live session should have."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Plan
from api.tenancy import scoped, tenant_sql

# Live sessions of one ISP with their router, plan and the rate they should have now.
_TARGETS = """
    WITH live AS (
        SELECT a.radacctid, a.voucher_id, a.username, a.acctsessionid,
               host(a.framedipaddress) AS framed_ip, a.callingstationid, a.applied_rate,
               r.id AS router_id, v.plan_id, v.rate_limit AS plan_rate
          FROM radacct a
          JOIN tenant t ON t.id = a.tenant_id
          JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
          JOIN voucher v ON v.id = a.voucher_id
         WHERE {tenant:a} AND a.acctstoptime IS NULL
           AND COALESCE(a.acctupdatetime, a.acctstarttime)
               > now() - session_grace(t.acct_interim_interval)
    )
    SELECT l.*, COALESCE(
               (SELECT f.rate_limit FROM fair_usage_state f
                 WHERE {tenant:f} AND (f.router_id IS NULL OR f.router_id = l.router_id)
                   AND (f.plan_id IS NULL OR f.plan_id = l.plan_id)
                 ORDER BY f.threshold DESC LIMIT 1),
               l.plan_rate) AS target
      FROM live l
"""

# The rules crossed now: per router for scope "router", once for scope "isp".
_CROSSED = """
    WITH live AS (
        SELECT r.id AS router_id
          FROM radacct a
          JOIN tenant t ON t.id = a.tenant_id
          JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
         WHERE {tenant:a} AND a.acctstoptime IS NULL AND a.voucher_id IS NOT NULL
           AND COALESCE(a.acctupdatetime, a.acctstarttime)
               > now() - session_grace(t.acct_interim_interval)
    ), per_router AS (SELECT router_id, count(*) AS n FROM live GROUP BY router_id)
    SELECT u.id AS rule_id, p.router_id, u.plan_id, u.threshold, u.rate_limit
      FROM fair_usage_rule u JOIN per_router p ON p.n > u.threshold
     WHERE {tenant:u} AND u.active AND u.scope = 'router'
    UNION ALL
    SELECT u.id, NULL, u.plan_id, u.threshold, u.rate_limit
      FROM fair_usage_rule u
     WHERE {tenant:u} AND u.active AND u.scope = 'isp'
       AND (SELECT count(*) FROM live) > u.threshold
"""


async def lock(session: AsyncSession, tenant_id: int) -> None:
    """One evaluation of an ISP at a time (until the transaction ends)."""
    await session.execute(
        tenant_sql(tenant_id, "SELECT pg_advisory_xact_lock(hashtext('fair_usage'), :tenant_id)")
    )


async def crossed(session: AsyncSession, tenant_id: int) -> Sequence[RowMapping]:
    return (await session.execute(tenant_sql(tenant_id, _CROSSED))).mappings().all()


async def replace_state(session: AsyncSession, tenant_id: int, rows: Sequence[RowMapping]) -> None:
    """fair_usage_state becomes exactly `rows` (rules crossed now)."""
    await session.execute(tenant_sql(tenant_id, "DELETE FROM fair_usage_state WHERE {tenant}"))
    insert = tenant_sql(tenant_id, """
        INSERT INTO fair_usage_state (tenant_id, rule_id, router_id, plan_id, threshold,
                                      rate_limit)
        VALUES (:tenant_id, :rule, :router, :plan, :threshold, :rate)""")  # fmt: skip
    for row in rows:
        await session.execute(
            insert,
            {"rule": row["rule_id"], "router": row["router_id"], "plan": row["plan_id"],
             "threshold": row["threshold"], "rate": row["rate_limit"]},
        )  # fmt: skip


async def targets(session: AsyncSession, tenant_id: int) -> Sequence[RowMapping]:
    return (await session.execute(tenant_sql(tenant_id, _TARGETS))).mappings().all()


async def settle(session: AsyncSession, tenant_id: int, settled: list[tuple[int, str]]) -> None:
    """Remembers the rate each session has now (radacct.applied_rate)."""
    await session.execute(
        tenant_sql(tenant_id, """
            UPDATE radacct a SET applied_rate = u.rate
              FROM unnest(CAST(:ids AS bigint[]), CAST(:rates AS text[])) AS u(id, rate)
             WHERE {tenant:a} AND a.radacctid = u.id"""),
        {"ids": [i for i, _ in settled], "rates": [r for _, r in settled]},
    )  # fmt: skip


async def rules(session: AsyncSession, tenant_id: int) -> list[dict[str, Any]]:
    result = await session.execute(
        tenant_sql(tenant_id, """
            SELECT u.*, EXISTS (SELECT 1 FROM fair_usage_state s WHERE s.rule_id = u.id)
                   AS in_force
              FROM fair_usage_rule u WHERE {tenant:u} AND u.active ORDER BY u.id"""),
    )  # fmt: skip
    return [dict(r) for r in result.mappings()]


async def plan_exists(session: AsyncSession, tenant_id: int, plan_id: int) -> bool:
    stmt = scoped(Plan, tenant_id).where(Plan.id == plan_id).with_only_columns(Plan.id)
    return await session.scalar(stmt) is not None


async def insert_rule(
    session: AsyncSession, tenant_id: int, values: dict[str, Any]
) -> dict[str, Any]:
    result = await session.execute(
        tenant_sql(tenant_id, """
            INSERT INTO fair_usage_rule (tenant_id, plan_id, scope, threshold, rate_limit)
            VALUES (:tenant_id, :plan_id, :scope, :threshold, :rate_limit) RETURNING *"""),
        values,
    )  # fmt: skip
    return dict(result.mappings().one())


async def retire_rule(session: AsyncSession, tenant_id: int, rule_id: int) -> bool:
    result = await session.execute(
        tenant_sql(tenant_id, """
            UPDATE fair_usage_rule SET active = false
             WHERE id = :id AND {tenant} AND active RETURNING id"""),
        {"id": rule_id},
    )  # fmt: skip
    return result.first() is not None
