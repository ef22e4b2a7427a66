"""The audit log: one row per mutating staff or operator action, in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import AuditEvent
from api.tenancy import Principal


async def record(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    object_type: str,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
    ip: str | None = None,
    *,
    tenant_id: int | None = None,
) -> AuditEvent:
    """`actor` is the acting Principal (CLI principals are audited as "cli"), or a bare name
    when nobody is authenticated yet (a failed login), with `tenant_id` if known."""
    if isinstance(actor, Principal):
        tenant_id, actor_id, actor_name = actor.tenant_id, actor.staff_id, actor.email
    else:
        actor_id, actor_name = None, actor
    event = AuditEvent(
        tenant_id=tenant_id,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=details or {},
        ip=ip,
    )
    session.add(event)
    await session.flush()
    return event
