"""Reading the audit log; rows are only ever inserted (api.audit.record)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit.schemas import AuditFilter
from api.models import AuditEvent
from api.tenancy import scoped


def _like_prefix(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def filtered(tenant_id: int, query: AuditFilter) -> Select[AuditEvent]:
    stmt = scoped(AuditEvent, tenant_id)
    if query.actor is not None:
        stmt = stmt.where(func.lower(AuditEvent.actor) == query.actor.strip().lower())
    if query.action is not None:
        if query.action.endswith("*"):
            stmt = stmt.where(AuditEvent.action.like(_like_prefix(query.action[:-1]), escape="\\"))
        else:
            stmt = stmt.where(AuditEvent.action == query.action)
    if query.object_type is not None:
        stmt = stmt.where(AuditEvent.object_type == query.object_type)
    if query.object_id is not None:
        stmt = stmt.where(AuditEvent.object_id == query.object_id)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.created_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditEvent.created_at < query.until)
    return stmt


async def page(session: AsyncSession, tenant_id: int, query: AuditFilter) -> Sequence[AuditEvent]:
    """Newest first, older than `query.before` if given (ix_audit_event_tenant_id_id)."""
    stmt = filtered(tenant_id, query)
    if query.before is not None:
        stmt = stmt.where(AuditEvent.id < query.before)
    stmt = stmt.order_by(AuditEvent.id.desc())
    stmt = stmt.limit(query.limit).offset((query.page - 1) * query.limit)
    return (await session.scalars(stmt)).all()


async def batch_before(
    session: AsyncSession, tenant_id: int, query: AuditFilter, before: int | None, size: int
) -> Sequence[AuditEvent]:
    """Up to `size` matching rows older than id `before` (keyset paging for the CSV export,
    so a long export costs the same per row at the end as at the start)."""
    stmt = filtered(tenant_id, query)
    if before is not None:
        stmt = stmt.where(AuditEvent.id < before)
    return (await session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(size))).all()
