"""Reading and exporting the audit log: an ISP sees its own rows only."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.audit import repository
from api.audit.schemas import AuditFilter, AuditOut, AuditPage
from api.db import unit_of_work
from api.tenancy import Principal

CSV_COLUMNS = (
    "id",
    "created_at",
    "actor",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "ip",
    "user_agent",
    "details",
    "changes",
)
CSV_BATCH = 1000
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); a leading
# apostrophe makes it text. Tab and carriage return start formulas in some programs too.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def list_events(session: AsyncSession, principal: Principal, query: AuditFilter) -> AuditPage:
    rows = await repository.page(session, principal.tenant_id, query)
    items = [AuditOut.model_validate(r) for r in rows]
    return AuditPage(page=query.page, limit=query.limit, items=items)


def safe_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_rows(rows: Iterable[AuditOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        data = row.model_dump(mode="json")
        writer.writerow([safe_cell(data[c]) if c != "id" else data[c] for c in CSV_COLUMNS])
    return out.getvalue()


async def start_export(
    session: AsyncSession, principal: Principal, query: AuditFilter, meta: audit.Meta
) -> AsyncIterator[str]:
    """Records the export (in the request's transaction, so it is committed before the first
    byte) and returns the CSV as a stream."""
    filters = query.model_dump(mode="json", exclude_none=True, exclude={"page", "limit"})
    await audit.record(
        session, principal, "audit.export", "audit_event", None, {"filters": filters}, meta
    )
    return _stream(principal.tenant_id, query)


async def _stream(tenant_id: int, query: AuditFilter) -> AsyncIterator[str]:
    """Newest first, in keyset batches, each in its own short read transaction: no database
    connection is held while the client reads."""
    out = io.StringIO()
    csv.writer(out).writerow(CSV_COLUMNS)
    yield out.getvalue()
    before = query.before  # the export starts where the list was asked to
    while True:
        async with unit_of_work() as session:
            rows = await repository.batch_before(session, tenant_id, query, before, CSV_BATCH)
            items = [AuditOut.model_validate(r) for r in rows]
        if not items:
            return
        yield _csv_rows(items)
        if len(items) < CSV_BATCH:
            return
        before = items[-1].id
