"""A burst of failed staff sign-ins at one ISP, decided as a staff alert (staff.failed_logins) in
the transaction that records the failure completing it (api/auth/service.py, after the audit
row). The failures are the audit log's: what the limiter refuses before checking (429) is not
recorded and not counted; an unknown e-mail at the ISP's address is recorded for that ISP and
counts there."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.notifications import decisions
from api.tenancy import tenant_sql

EVENT = "staff.failed_logins"
# A burst: FAILED_LOGINS failed sign-ins at one ISP within WINDOW, across its staff accounts.
# Ten is what the limiter lets one account try from one address before it locks
# (login_max_failures): one person mistyping until locked out reaches it, which owners want to
# hear of too; guessing spread over accounts and addresses, which no single budget stops, reaches
# it sooner. Ten minutes keeps a normal day's scattered typos (a few an hour) below it.
FAILED_LOGINS = 10
WINDOW = timedelta(minutes=10)
# A failed sign-in is a wrong password (or unknown e-mail), or a wrong second-factor code after a
# right password (both take from the same budgets). The queries below name these audit actions
# as the partial index ix_audit_event_failed_login (migration 0019) does, written out, not bound:
# the planner must see them to use the index in a prepared statement's generic plan.

# One burst, one alert: keyed per ISP and clock hour, and none within an hour of the last one,
# so a burst across the turn of the hour alerts once too; a long attack, once an hour.
QUIET = timedelta(hours=1)

_FAILURES = """
    SELECT count(*) FROM (
        SELECT 1 FROM audit_event
         WHERE {tenant} AND action IN ('auth.login_failed', 'auth.second_factor_failed')
           AND created_at > now() - CAST(:window AS interval)
         LIMIT :n) f"""
_DETAILS = """
    WITH f AS (SELECT actor, ip FROM audit_event
                WHERE {tenant} AND action IN ('auth.login_failed', 'auth.second_factor_failed')
                  AND created_at > now() - CAST(:window AS interval)),
         top AS (SELECT COALESCE(host(ip), '?') AS address, count(*) AS n
                   FROM f GROUP BY ip ORDER BY n DESC, address LIMIT 3)
    SELECT (SELECT count(*) FROM f) AS failures,
           (SELECT count(DISTINCT actor) FROM f) AS accounts,
           (SELECT string_agg(format('%s (%s)', address, n), ', ' ORDER BY n DESC, address)
              FROM top) AS sources"""


async def failed_login(session: AsyncSession, tenant_id: int) -> bool:
    """After a failed sign-in at this ISP is in the audit log, in its transaction: True if it
    completed a burst and the alert was decided now. Never raises (decisions.guarded)."""
    return await decisions.guarded(session, EVENT, lambda: _decide(session, tenant_id))


async def _decide(session: AsyncSession, tenant_id: int) -> bool:
    hour = int(time.time()) // 3600
    keys = [f"{EVENT}:{tenant_id}:{hour}", f"{EVENT}:{tenant_id}:{hour - 1}"]
    # During an attack every later failure ends here, on the notification key's unique index.
    if await decisions.decided_recently(session, tenant_id, keys, QUIET):
        return False
    window: dict[str, Any] = {"window": WINDOW}
    seen = await session.scalar(tenant_sql(tenant_id, _FAILURES), window | {"n": FAILED_LOGINS})
    if (seen or 0) < FAILED_LOGINS:
        return False
    burst = (await session.execute(tenant_sql(tenant_id, _DETAILS), window)).mappings().one()
    details = dict(burst) | {"minutes": int(WINDOW.total_seconds() // 60)}
    return await decisions.decide(session, tenant_id, EVENT, keys[0], None, details)
