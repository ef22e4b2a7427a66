"""The audit log: one row per mutating staff or operator action, in the same transaction, with
who (actor, ISP), from where (address, user agent), when, and the values before and after.

Rows are append-only: a trigger (migration 0010) refuses UPDATE, DELETE and TRUNCATE whichever
role asks, so nothing in the application can rewrite history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import AuditEvent
from api.netaddr import RequestMeta
from api.tenancy import Principal

# Fields whose values never reach the log: only whether they were set, changed or cleared.
SECRET_FIELDS = frozenset(
    {
        "api_key",
        "callback_token",
        "consumer_key",
        "consumer_secret",
        "initiator_password",
        "passkey",
        "password",
        "password_hash",
        "secret",
        "security_credential",
        "token",
    }
)
# ...and any field named like one (a new `*_secret` column is redacted before anyone thinks of it).
_SECRET_SUFFIXES = ("_secret", "_password", "_passkey", "_token", "_key", "_credential", "_hash")
# Stored encrypted, under the name of the secret they hold.
_ENCRYPTED_PREFIX = "encrypted_"
USER_AGENT_MAX = 512


Meta = RequestMeta | str | None  # a bare string is an address (the CLI and tests pass one)


def is_secret(field: str) -> bool:
    name = field.lower().removeprefix(_ENCRYPTED_PREFIX)
    return name in SECRET_FIELDS or name.endswith(_SECRET_SUFFIXES)


def _present(value: object) -> bool:
    return value is not None and value != ""


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{field: {"before": x, "after": y}} for the fields whose value differs; a secret field
    becomes "set", "changed" or "cleared" and its values are never copied."""
    out: dict[str, Any] = {}
    for field in sorted(set(before) | set(after)):
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        if is_secret(field):
            out[field] = "cleared" if not _present(new) else "changed" if _present(old) else "set"
        else:
            out[field] = {"before": to_jsonable_python(old), "after": to_jsonable_python(new)}
    return out


def redact(details: Mapping[str, Any]) -> dict[str, Any]:
    """`details` with every secret field's value replaced by "set" (or dropped when empty)."""
    out: dict[str, Any] = {}
    for field, value in details.items():
        if is_secret(field):
            if _present(value):
                out[field] = "set"
        elif isinstance(value, Mapping):
            out[field] = redact(value)
        else:
            out[field] = to_jsonable_python(value)
    return out


def snapshot(obj: object, *fields: str) -> dict[str, Any]:
    """The loaded columns of an ORM object (or just `fields`) as a dict, for `changed()`.
    Columns not loaded (server defaults not yet read back) are left out rather than loaded:
    lazy loading is not allowed under asyncio."""
    state = inspect(obj)
    names = fields or tuple(a.key for a in state.mapper.column_attrs)
    return {name: getattr(obj, name) for name in names if name not in state.unloaded}


def _meta(meta: Meta) -> RequestMeta:
    if isinstance(meta, RequestMeta):
        return meta
    return RequestMeta(ip=meta)


async def record(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    object_type: str,
    object_id: object | None = None,
    details: dict[str, Any] | None = None,
    meta: Meta = None,
    *,
    tenant_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """`actor` is the acting Principal (CLI principals are audited as "cli"), or a bare name
    when nobody is authenticated yet (a failed login), with `tenant_id` if known. Secret fields
    in `details` are redacted here too, so no caller can log one by mistake."""
    if isinstance(actor, Principal):
        tenant_id, actor_id, actor_name = actor.tenant_id, actor.staff_id, actor.email
    else:
        actor_id, actor_name = None, actor
    where = _meta(meta)
    event = AuditEvent(
        tenant_id=tenant_id,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=redact(details or {}),
        changes=changes,
        ip=where.ip,
        user_agent=(where.user_agent or None) and where.user_agent[:USER_AGENT_MAX],
    )
    session.add(event)
    await session.flush()
    return event


async def changed(
    session: AsyncSession,
    actor: Principal | str,
    action: str,
    object_type: str,
    object_id: object | None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    meta: Meta = None,
    *,
    details: dict[str, Any] | None = None,
    tenant_id: int | None = None,
) -> AuditEvent:
    """Record a change with the values before and after, only for the fields that changed. A
    creation passes `before={}`, a deletion `after={}`."""
    return await record(
        session,
        actor,
        action,
        object_type,
        object_id,
        details,
        meta,
        tenant_id=tenant_id,
        changes=diff(before, after),
    )
