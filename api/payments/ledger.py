"""The money invariant: every granted payment has exactly one grant (a voucher's, or a monthly
subscriber's credit: subscriber_payment), every grant and credit has its granted payment, every
sold voucher has a grant, every paid purchase has its payment, and a grant's amount is its
payment's (a credit's, its whole shillings). Each check is a query listing the rows that break
it; all of them must come back empty. `mnetifi payments check` runs it (exit 1 on any violation)."""

from __future__ import annotations

import re

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql

CHECKS: dict[str, str] = {
    "granted payment without exactly one grant": """
        SELECT p.id FROM payment p
         WHERE p.status = 'granted' AND {tenant:p}
           AND (SELECT count(*) FROM payment_grant g WHERE g.payment_id = p.id)
             + (SELECT count(*) FROM subscriber_payment s WHERE s.payment_id = p.id) <> 1""",
    "subscriber credit whose payment is not granted": """
        SELECT s.id FROM subscriber_payment s LEFT JOIN payment p ON p.id = s.payment_id
         WHERE (p.id IS NULL OR p.status <> 'granted' OR p.tenant_id <> s.tenant_id)
           AND {tenant:s}""",
    "subscriber credit differs from its payment": """
        SELECT s.id FROM subscriber_payment s JOIN payment p ON p.id = s.payment_id
         WHERE s.amount <> floor(p.amount) AND {tenant:s}""",
    "grant whose payment is not granted": """
        SELECT g.id FROM payment_grant g LEFT JOIN payment p ON p.id = g.payment_id
         WHERE (p.id IS NULL OR p.status <> 'granted' OR p.tenant_id <> g.tenant_id)
           AND {tenant:g}""",
    "ungranted payment with a grant": """
        SELECT p.id FROM payment p JOIN payment_grant g ON g.payment_id = p.id
         WHERE p.status <> 'granted' AND {tenant:p}""",
    "grant amount differs from its payment": """
        SELECT g.id FROM payment_grant g JOIN payment p ON p.id = g.payment_id
         WHERE g.amount <> p.amount AND {tenant:g}""",
    "sold voucher without a grant": """
        SELECT v.id FROM voucher v
         WHERE v.source = 'payment'
           AND NOT EXISTS (SELECT 1 FROM payment_grant g
                            WHERE g.voucher_id = v.id AND g.kind = 'new') AND {tenant:v}""",
    "paid purchase without its payment": """
        SELECT r.id FROM stk_request r
         WHERE r.status = 'paid'
           AND NOT EXISTS (SELECT 1 FROM payment p WHERE p.stk_request_id = r.id) AND {tenant:r}""",
    "payment of a purchase that is not paid": """
        SELECT p.id FROM payment p JOIN stk_request r ON r.id = p.stk_request_id
         WHERE r.status <> 'paid' AND {tenant:p}""",
}
COUNTS = {
    "payments": "SELECT count(*) FROM payment p WHERE true AND {tenant:p}",
    "grants": "SELECT count(*) FROM payment_grant g WHERE true AND {tenant:g}",
}
# Not violations, but money the ISP must act on: shown beside the check.
PENDING_MONEY = {
    "unclaimed": "SELECT count(*) FROM payment p WHERE p.status = 'unclaimed' AND {tenant:p}",
    "held": "SELECT count(*) FROM payment p WHERE p.status = 'held' AND {tenant:p}",
    "disputed": """SELECT count(*) FROM stk_request r
                    WHERE r.status = 'paid' AND r.query_result_code IS NOT NULL
                      AND r.query_result_code <> '0' AND {tenant:r}""",
}


_SCOPE = re.compile(r"AND \{tenant:[a-z]\}")


def _statement(sql: str, tenant_id: int | None) -> TextClause:
    """One ISP's rows through tenant_sql(), the one scoper; every ISP's (the CLI without
    --tenant) with the scope left out, since then there is no tenant to bind."""
    if tenant_id is not None:
        return tenant_sql(tenant_id, sql)
    return text(_SCOPE.sub("", sql))


async def check(session: AsyncSession, tenant_id: int | None = None) -> dict[str, object]:
    """{"violations": {check: [ids]}, "total": n, "counts": {...}, "pending_money": {...}}."""
    violations: dict[str, list[int]] = {}
    for name, sql in CHECKS.items():
        rows = await session.scalars(_statement(sql, tenant_id))
        violations[name] = list(rows)
    counts = {
        name: await session.scalar(_statement(sql, tenant_id)) for name, sql in COUNTS.items()
    }
    pending = {
        name: await session.scalar(_statement(sql, tenant_id))
        for name, sql in PENDING_MONEY.items()
    }
    return {
        "violations": violations,
        "total": sum(len(ids) for ids in violations.values()),
        "counts": counts,
        "pending_money": pending,
    }
