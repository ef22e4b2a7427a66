"""What a tech or an owner works with on the dashboard's subscriber pages: the list (search by
username, name or phone; a zone with everything below it; status; online now) with each
subscriber's live state and last session, a subscriber's recent sessions and usage this month,
and the actions that change one thing without retyping the rest: move to another router or
zone, change plan, suspend or resume, a new generated password (shown once).

Every action goes through service.update_subscriber, so the rules, the tech's scope and the
audit (a suspension and a resumption as their own actions) are the API's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest
from api.models import Subscriber
from api.phones import phone_or_none
from api.subscribers import roster_repository, secrets, service
from api.subscribers.schemas import SubscriberUpdate
from api.tenancy import Principal

PAGE = 30


@dataclass
class Filters:
    """The list page's query, as typed (shown back in its form)."""

    q: str = ""
    zone_id: int | None = None
    status: str | None = None
    online: bool = False
    before: int | None = None


@dataclass
class Row:
    subscriber: Subscriber
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def online(self) -> bool:
        return bool(self.last.get("live"))


def state(subscriber: Subscriber, grace_days: int, now: datetime | None = None) -> str:
    """suspended, expired (past the due date and the ISP's grace: FreeRADIUS puts it in the
    expired pool), due (past the due date, within the grace) or active."""
    if subscriber.status == "suspended":
        return "suspended"
    now = now or datetime.now(UTC)
    if subscriber.due_at + timedelta(days=grace_days) < now:
        return "expired"
    return "due" if subscriber.due_at < now else "active"


def blocked_until(subscriber: Subscriber, now: datetime | None = None) -> datetime | None:
    """When the block for too many wrong PPPoE passwords ends, while one runs."""
    until = subscriber.login_blocked_until
    return until if until is not None and until > (now or datetime.now(UTC)) else None


async def listing(
    session: AsyncSession, principal: Principal, wanted: Filters
) -> tuple[list[Row], int | None]:
    """A page of rows, and the `before` of the next page (None on the last)."""
    found = await roster_repository.page(
        session, principal, q=wanted.q, phone=phone_or_none(wanted.q) if wanted.q else None,
        zone_id=wanted.zone_id, status=wanted.status, online=wanted.online,
        before=wanted.before, limit=PAGE,
    )  # fmt: skip
    last = await roster_repository.last_sessions(
        session, principal.tenant_id, [s.id for s in found]
    )
    rows = [Row(s, last.get(s.id, {})) for s in found]
    return rows, (found[-1].id if len(found) == PAGE else None)


async def activity(session: AsyncSession, principal: Principal, subscriber: Subscriber) -> dict:
    """What accounting says of a subscriber the principal sees (found through its scope)."""
    tenant_id = principal.tenant_id
    last = await roster_repository.last_sessions(session, tenant_id, [subscriber.id])
    return {
        "last": last.get(subscriber.id, {}),
        "sessions": await roster_repository.recent_sessions(session, tenant_id, subscriber.id),
        "used_this_month": await roster_repository.usage_this_month(
            session, tenant_id, subscriber.id
        ),
    }


async def change(
    session: AsyncSession, principal: Principal, subscriber_id: int, values: dict[str, Any],
    meta: audit.Meta = None,
) -> Subscriber:  # fmt: skip
    """One of the page's actions: the subscriber first (404 if not theirs), then the change."""
    await service.get_subscriber(session, principal, subscriber_id)
    try:
        body = SubscriberUpdate.model_validate(values)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return await service.update_subscriber(session, principal, subscriber_id, body, meta)


async def move(
    session: AsyncSession, principal: Principal, subscriber_id: int, to: dict[str, int | None],
    meta: audit.Meta = None,
) -> Subscriber:  # fmt: skip
    """To another router and/or zone (`to`: router_id, zone_id, either left out to keep it);
    only what differs is changed (nothing retyped)."""
    current = await service.get_subscriber(session, principal, subscriber_id)
    values: dict[str, Any] = {
        key: to[key]
        for key in ("router_id", "zone_id")
        if key in to and to[key] != getattr(current, key)
    }
    if not values:
        raise BadRequest("Choose another router or zone: this is where the subscriber is now")
    return await change(session, principal, subscriber_id, values, meta)


async def new_password(
    session: AsyncSession, principal: Principal, subscriber_id: int, meta: audit.Meta = None
) -> tuple[Subscriber, str]:
    """A generated password, set now and returned once (the database keeps it encrypted)."""
    password = secrets.generate()
    changed = await change(session, principal, subscriber_id, {"password": password}, meta)
    return changed, password
