"""Fair usage policy, per ISP: while more than `threshold` users are online on a router (scope
"router") or across the ISP (scope "isp"), sessions of the rule's plan (or of every plan) get
the rule's rate; when the load drops they get their plan's rate back.

The worker re-evaluates every few seconds (sessions start and stop through FreeRADIUS, not the
API): it rewrites fair_usage_state (the rules crossed now, which FreeRADIUS reads so new logins
get the current rate) and CoAs Mikrotik-Rate-Limit to exactly the live sessions whose rate
must change. `radacct.applied_rate` remembers what each session has, so nothing is sent twice.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.db import unit_of_work
from api.deps import ClientIP, DbId, IdPath, SessionDep
from api.errors import NotFound
from api.sessions import control
from api.tenancy import Principal, require

log = logging.getLogger(__name__)
RATE = r"^[0-9]+[kM]?/[0-9]+[kM]?$"

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
         WHERE a.tenant_id = :t AND a.acctstoptime IS NULL
           AND COALESCE(a.acctupdatetime, a.acctstarttime)
               > now() - session_grace(t.acct_interim_interval)
    )
    SELECT l.*, COALESCE(
               (SELECT f.rate_limit FROM fair_usage_state f
                 WHERE f.tenant_id = :t AND (f.router_id IS NULL OR f.router_id = l.router_id)
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
         WHERE a.tenant_id = :t AND a.acctstoptime IS NULL AND a.voucher_id IS NOT NULL
           AND COALESCE(a.acctupdatetime, a.acctstarttime)
               > now() - session_grace(t.acct_interim_interval)
    ), per_router AS (SELECT router_id, count(*) AS n FROM live GROUP BY router_id)
    SELECT u.id AS rule_id, p.router_id, u.plan_id, u.threshold, u.rate_limit
      FROM fair_usage_rule u JOIN per_router p ON p.n > u.threshold
     WHERE u.tenant_id = :t AND u.active AND u.scope = 'router'
    UNION ALL
    SELECT u.id, NULL, u.plan_id, u.threshold, u.rate_limit
      FROM fair_usage_rule u
     WHERE u.tenant_id = :t AND u.active AND u.scope = 'isp'
       AND (SELECT count(*) FROM live) > u.threshold
"""


async def evaluate(session: AsyncSession, tenant_id: int) -> list[int]:
    """Brings one ISP's fair-usage state up to date; returns the CoA requests it planned."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('fair_usage'), :t)"), {"t": tenant_id}
    )
    crossed = (await session.execute(text(_CROSSED), {"t": tenant_id})).mappings().all()
    await session.execute(
        text("DELETE FROM fair_usage_state WHERE tenant_id = :t"), {"t": tenant_id}
    )
    for row in crossed:
        await session.execute(
            text("""INSERT INTO fair_usage_state (tenant_id, rule_id, router_id, plan_id,
                                                  threshold, rate_limit)
                    VALUES (:t, :rule, :router, :plan, :threshold, :rate)"""),
            {"t": tenant_id, "rule": row["rule_id"], "router": row["router_id"],
             "plan": row["plan_id"], "threshold": row["threshold"], "rate": row["rate_limit"]},
        )  # fmt: skip
    sessions = (await session.execute(text(_TARGETS), {"t": tenant_id})).mappings().all()
    change: dict[str, list[Any]] = {}
    settle: list[tuple[int, str]] = []
    for row in sessions:
        current = row["applied_rate"]
        if current is None and row["target"] == row["plan_rate"]:
            settle.append((row["radacctid"], row["target"]))  # logged in at its plan's rate
        elif current != row["target"]:
            change.setdefault(row["target"], []).append(row)
    ids: list[int] = []
    for rate, rows in change.items():
        ids += await control.plan(
            session, tenant_id, rows, kind="coa", reason="fair_usage", actor="fair-usage",
            change={"Mikrotik-Rate-Limit": rate},
        )  # fmt: skip
        settle += [(r["radacctid"], rate) for r in rows]
    if settle:
        await session.execute(
            text("""UPDATE radacct a SET applied_rate = u.rate
                      FROM unnest(CAST(:ids AS bigint[]), CAST(:rates AS text[])) AS u(id, rate)
                     WHERE a.radacctid = u.id"""),
            {"ids": [i for i, _ in settle], "rates": [r for _, r in settle]},
        )
    return ids


async def evaluate_all(ctx: dict[str, Any] | None = None) -> int:
    """Worker cron: every ISP with fair-usage rules (or state left from removed ones)."""
    async with unit_of_work() as session:
        tenants = (
            await session.scalars(
                text("""SELECT tenant_id FROM fair_usage_rule WHERE active
                        UNION SELECT tenant_id FROM fair_usage_state""")
            )
        ).all()
    planned = 0
    for tenant_id in tenants:
        async with unit_of_work() as session:
            planned += len(await evaluate(session, tenant_id))
    return planned


# ------------------------------------------------------------------ staff API

router = APIRouter(prefix="/api/v1/fair-usage", tags=["fair usage"])
Reader = Annotated[Principal, Depends(require("settings:read"))]
Writer = Annotated[Principal, Depends(require("settings:write"))]


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["router", "isp"] = Field(description="Count users per router, or ISP-wide.")
    threshold: int = Field(ge=0, le=100_000, description="Applies while users are above this.")
    rate_limit: str = Field(pattern=RATE, description='Mikrotik-Rate-Limit, e.g. "2M/2M".')
    plan_id: DbId | None = Field(None, description="Only this plan's sessions (default: all).")


@router.get("")
async def list_rules(principal: Reader, session: SessionDep) -> list[dict[str, Any]]:
    result = await session.execute(
        text("""SELECT u.*, EXISTS (SELECT 1 FROM fair_usage_state s WHERE s.rule_id = u.id)
                       AS in_force
                  FROM fair_usage_rule u WHERE u.tenant_id = :t AND u.active ORDER BY u.id"""),
        {"t": principal.tenant_id},
    )
    return [dict(r) for r in result.mappings()]


@router.post("", status_code=201)
async def create_rule(
    body: RuleIn, principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, Any]:
    if body.plan_id is not None:
        found = await session.scalar(
            text("SELECT 1 FROM plan WHERE id = :p AND tenant_id = :t"),
            {"p": body.plan_id, "t": principal.tenant_id},
        )
        if not found:
            raise NotFound("No such plan")
    result = await session.execute(
        text("""INSERT INTO fair_usage_rule (tenant_id, plan_id, scope, threshold, rate_limit)
                VALUES (:t, :plan, :scope, :threshold, :rate) RETURNING *"""),
        {"t": principal.tenant_id, "plan": body.plan_id, "scope": body.scope,
         "threshold": body.threshold, "rate": body.rate_limit},
    )  # fmt: skip
    rule = dict(result.mappings().one())
    await audit.record(
        session, principal, "fair_usage.create", "fair_usage_rule", rule["id"],
        body.model_dump(), ip,
    )  # fmt: skip
    return rule


@router.delete("/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: IdPath, principal: Writer, session: SessionDep, ip: ClientIP
) -> Response:
    """Retires a rule; the next evaluation restores the rate of the sessions it throttled."""
    result = await session.execute(
        text("""UPDATE fair_usage_rule SET active = false
                 WHERE id = :id AND tenant_id = :t AND active RETURNING id"""),
        {"id": rule_id, "t": principal.tenant_id},
    )
    if result.first() is None:
        raise NotFound("No such rule")
    await audit.record(
        session, principal, "fair_usage.delete", "fair_usage_rule", rule_id, None, ip
    )
    return Response(status_code=204)
