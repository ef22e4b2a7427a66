"""The money invariant: every granted payment has exactly one grant, every grant has its
granted payment, every sold voucher has a grant, every paid purchase has its payment, and a
grant's amount is its payment's. Each check is a query listing the rows that break it; all of
them must come back empty. `mnetifi payments check` runs it (exit 1 on any violation)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CHECKS: dict[str, str] = {
    "granted payment without exactly one grant": """
        SELECT p.id FROM payment p LEFT JOIN payment_grant g ON g.payment_id = p.id
         WHERE p.status = 'granted' {and_p}
         GROUP BY p.id HAVING count(g.id) <> 1""",
    "grant whose payment is not granted": """
        SELECT g.id FROM payment_grant g LEFT JOIN payment p ON p.id = g.payment_id
         WHERE (p.id IS NULL OR p.status <> 'granted' OR p.tenant_id <> g.tenant_id) {and_g}""",
    "ungranted payment with a grant": """
        SELECT p.id FROM payment p JOIN payment_grant g ON g.payment_id = p.id
         WHERE p.status <> 'granted' {and_p}""",
    "grant amount differs from its payment": """
        SELECT g.id FROM payment_grant g JOIN payment p ON p.id = g.payment_id
         WHERE g.amount <> p.amount {and_g}""",
    "sold voucher without a grant": """
        SELECT v.id FROM voucher v
         WHERE v.source = 'payment'
           AND NOT EXISTS (SELECT 1 FROM payment_grant g
                            WHERE g.voucher_id = v.id AND g.kind = 'new') {and_v}""",
    "paid purchase without its payment": """
        SELECT r.id FROM stk_request r
         WHERE r.status = 'paid'
           AND NOT EXISTS (SELECT 1 FROM payment p WHERE p.stk_request_id = r.id) {and_r}""",
    "payment of a purchase that is not paid": """
        SELECT p.id FROM payment p JOIN stk_request r ON r.id = p.stk_request_id
         WHERE r.status <> 'paid' {and_p}""",
}
# Not violations, but money the ISP must act on: shown beside the check.
PENDING_MONEY = {
    "unclaimed": "SELECT count(*) FROM payment p WHERE p.status = 'unclaimed' {and_p}",
    "held": "SELECT count(*) FROM payment p WHERE p.status = 'held' {and_p}",
    "disputed": """SELECT count(*) FROM stk_request r
                    WHERE r.status = 'paid' AND r.query_result_code IS NOT NULL
                      AND r.query_result_code <> '0' {and_r}""",
}


def _scope(sql: str, tenant_id: int | None) -> str:
    filters = {k: "" for k in ("and_p", "and_g", "and_v", "and_r")}
    if tenant_id is not None:
        filters = {k: f"AND {k[-1]}.tenant_id = :tenant_id" for k in filters}
    return sql.format(**filters)


async def check(session: AsyncSession, tenant_id: int | None = None) -> dict[str, object]:
    """{"violations": {check: [ids]}, "total": n, "counts": {...}, "pending_money": {...}}."""
    violations: dict[str, list[int]] = {}
    for name, sql in CHECKS.items():
        rows = await session.scalars(text(_scope(sql, tenant_id)), {"tenant_id": tenant_id})
        violations[name] = list(rows)
    counts = {}
    for name, table in (("payments", "payment"), ("grants", "payment_grant")):
        where = "" if tenant_id is None else " WHERE tenant_id = :tenant_id"
        counts[name] = await session.scalar(
            text(f"SELECT count(*) FROM {table}{where}"),  # noqa: S608 (fixed names)
            {"tenant_id": tenant_id},
        )
    pending = {
        name: await session.scalar(text(_scope(sql, tenant_id)), {"tenant_id": tenant_id})
        for name, sql in PENDING_MONEY.items()
    }
    return {
        "violations": violations,
        "total": sum(len(ids) for ids in violations.values()),
        "counts": counts,
        "pending_money": pending,
    }
