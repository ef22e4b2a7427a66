"""Fair usage policy, per ISP: while more than `threshold` users are online on a router (scope
"router") or across the ISP (scope "isp"), sessions of the rule's plan (or of every plan) get
the rule's rate; when the load drops they get their plan's rate back.

The worker re-evaluates every few seconds (sessions start and stop through FreeRADIUS, not the
API): it rewrites fair_usage_state (the rules crossed now, which FreeRADIUS reads so new logins
get the current rate) and CoAs Mikrotik-Rate-Limit to exactly the live sessions whose rate
must change. `radacct.applied_rate` remembers what each session has, so nothing is sent twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.sessions import control
from api.sessions import fairuse_repository as repository
from api.sessions.schemas import RuleIn
from api.tenancy import Principal


async def evaluate(session: AsyncSession, tenant_id: int) -> list[int]:
    """Brings one ISP's fair-usage state up to date; returns the CoA requests it planned."""
    await repository.lock(session, tenant_id)
    crossed = await repository.crossed(session, tenant_id)
    await repository.replace_state(session, tenant_id, crossed)
    sessions = await repository.targets(session, tenant_id)
    change, settle = _changes(sessions)
    ids: list[int] = []
    for rate, rows in change.items():
        ids += await control.plan(
            session, tenant_id, rows, kind="coa", reason="fair_usage", actor="fair-usage",
            change={"Mikrotik-Rate-Limit": rate},
        )  # fmt: skip
        settle += [(r["radacctid"], rate) for r in rows]
    if settle:
        await repository.settle(session, tenant_id, settle)
    return ids


def _changes(
    sessions: Sequence[RowMapping],
) -> tuple[dict[str, list[Any]], list[tuple[int, str]]]:
    """The sessions to CoA, by their new rate; and those already at their rate but not yet
    remembered so (logged in at their plan's rate)."""
    change: dict[str, list[Any]] = {}
    settle: list[tuple[int, str]] = []
    for row in sessions:
        current = row["applied_rate"]
        if current is None and row["target"] == row["plan_rate"]:
            settle.append((row["radacctid"], row["target"]))  # logged in at its plan's rate
        elif current != row["target"]:
            change.setdefault(row["target"], []).append(row)
    return change, settle


# ------------------------------------------------------------------ staff: the rules


async def list_rules(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    return await repository.rules(session, principal.tenant_id)


async def create_rule(
    session: AsyncSession, principal: Principal, body: RuleIn, meta: audit.Meta
) -> dict[str, Any]:
    if body.plan_id is not None and not await repository.plan_exists(
        session, principal.tenant_id, body.plan_id
    ):
        raise NotFound("No such plan")
    rule = await repository.insert_rule(session, principal.tenant_id, body.model_dump())
    await audit.changed(
        session, principal, "fair_usage.create", "fair_usage_rule", rule["id"], {},
        body.model_dump(), meta, details=body.model_dump(),
    )  # fmt: skip
    return rule


async def delete_rule(
    session: AsyncSession, principal: Principal, rule_id: int, meta: audit.Meta
) -> None:
    """Retires a rule; the next evaluation restores the rate of the sessions it throttled."""
    if not await repository.retire_rule(session, principal.tenant_id, rule_id):
        raise NotFound("No such rule")
    await audit.record(
        session, principal, "fair_usage.delete", "fair_usage_rule", rule_id, None, meta
    )
