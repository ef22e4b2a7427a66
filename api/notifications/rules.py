"""An ISP's rules per event: on or off, the channels, its own wording. No row is the event's
defaults (on, by SMS, the default wording); saving writes the row, audited."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.models import NotificationRule
from api.notifications import templates
from api.notifications.schemas import RuleIn, RuleOut
from api.tenancy import Principal, scoped


def default_channels(event: str) -> list[str]:
    """Customers by SMS; staff by e-mail."""
    return ["email"] if event in templates.STAFF_EVENTS else ["sms"]


def _out(event: str, row: NotificationRule | None) -> RuleOut:
    defaults = templates.DEFAULTS[event]
    return RuleOut(
        event=event,
        description=templates.EVENTS[event],
        enabled=row.enabled if row else True,
        channels=list(row.channels) if row else default_channels(event),  # type: ignore[arg-type]
        template_en=(row and row.template_en) or defaults["en"],
        template_sw=(row and row.template_sw) or defaults["sw"],
        customised=bool(row and (row.template_en or row.template_sw)),
    )


async def _rows(session: AsyncSession, tenant_id: int) -> dict[str, NotificationRule]:
    rows = await session.scalars(scoped(NotificationRule, tenant_id))
    return {row.event: row for row in rows}


async def rules(session: AsyncSession, principal: Principal) -> list[RuleOut]:
    stored = await _rows(session, principal.tenant_id)
    return [_out(event, stored.get(event)) for event in templates.EVENTS]


async def rule_for(session: AsyncSession, tenant_id: int, event: str) -> RuleOut:
    """What the dispatcher follows for one event of one ISP."""
    stored = await _rows(session, tenant_id)
    return _out(event, stored.get(event))


async def save(
    session: AsyncSession, principal: Principal, event: str, data: RuleIn, meta: audit.Meta = None
) -> RuleOut:
    if event not in templates.EVENTS:
        raise NotFound(f"No event {event[:40]!r}; the events are {', '.join(templates.EVENTS)}")
    stored = await _rows(session, principal.tenant_id)
    before = _out(event, stored.get(event)).model_dump()
    values = {
        "enabled": data.enabled,
        "channels": sorted(set(data.channels)),
        "template_en": data.template_en,
        "template_sw": data.template_sw,
    }
    await session.execute(
        insert(NotificationRule)
        .values(tenant_id=principal.tenant_id, event=event, **values)
        .on_conflict_do_update(index_elements=["tenant_id", "event"], set_=values)
    )
    session.expire_all()
    after = await rule_for(session, principal.tenant_id, event)
    await audit.changed(
        session, principal, "notifications.rule", "notification_rule", event, before,
        after.model_dump(), meta,
    )  # fmt: skip
    return after
