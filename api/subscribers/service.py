"""Subscribers: who may add or change whom (a tech only in their zones, owners and admins
anywhere), the rules a database constraint cannot say alone (a fixed address inside one of the
ISP's declared pools; the zone, router and plan are the ISP's), and the password, encrypted
before it leaves this process (api/subscribers/secrets.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest, NotFound
from api.models import Subscriber, SubscriberPlan
from api.routers import repository as routers_repository
from api.sessions import control
from api.subscribers import repository, secrets
from api.subscribers.schemas import SubscriberCreate, SubscriberUpdate
from api.tenancy import Principal
from api.zones import service as zones_service

# A month, as a default due date for a new subscriber (one paid month).
FIRST_MONTH = timedelta(days=30)


async def list_subscribers(
    session: AsyncSession, principal: Principal, *, zone_id: int | None = None,
    status: str | None = None, after_id: int = 0, limit: int = 100,
) -> Sequence[Subscriber]:  # fmt: skip
    return await repository.list_(session, principal, zone_id=zone_id, status=status,
                                  after_id=after_id, limit=limit)  # fmt: skip


async def get_subscriber(
    session: AsyncSession, principal: Principal, subscriber_id: int
) -> Subscriber:
    found = await repository.get(session, principal, subscriber_id)
    if found is None:
        raise NotFound("Subscriber not found")
    return found


async def _check_references(
    session: AsyncSession,
    principal: Principal,
    values: dict[str, Any],
    subscriber: Subscriber | None,
) -> None:
    """The zone, router and plan named are the ISP's (and the tech's); a fixed address lies in
    one of the ISP's pools (ip_pool_id follows it)."""
    zone_id = values.get("zone_id", subscriber.zone_id if subscriber else None)
    if principal.allocated_only and zone_id is None:
        raise BadRequest("Choose zone_id: one of your zones (GET /api/v1/zones)")
    if "zone_id" in values and values["zone_id"] is not None:
        await zones_service.visible_zone(session, principal, values["zone_id"])
    if values.get("router_id") is not None:
        router = await routers_repository.get(session, principal, values["router_id"])
        if router is None:
            raise BadRequest(f"No router {values['router_id']} of yours (GET /api/v1/routers)")
    if values.get("plan_id") is not None:
        plan = await repository.get_own(session, SubscriberPlan, principal.tenant_id,
                                        values["plan_id"])  # fmt: skip
        if plan is None:
            raise BadRequest(f"No monthly plan {values['plan_id']} (GET /api/v1/subscriber-plans)")
    if "ip_address" in values:
        values["ip_pool_id"] = None
        if values["ip_address"] is not None:
            pool = await repository.pool_holding(session, principal.tenant_id, values["ip_address"])
            if pool is None:
                raise BadRequest(
                    f"{values['ip_address']} is in none of your IP pools (or is a pool's network "
                    "or broadcast address): declare the pool under /api/v1/ip-pools first"
                )
            values["ip_pool_id"] = pool


async def create_subscriber(
    session: AsyncSession, principal: Principal, data: SubscriberCreate, meta: audit.Meta = None
) -> tuple[Subscriber, str | None]:
    """The new subscriber, and its password when it was generated (shown once)."""
    values = data.model_dump()
    generated = None if data.password is not None else secrets.generate()
    password: str = values.pop("password") or generated or ""
    values["due_at"] = values["due_at"] or datetime.now(UTC) + FIRST_MONTH
    await _check_references(session, principal, values, None)
    subscriber = Subscriber(tenant_id=principal.tenant_id,
                            encrypted_password=secrets.encrypt(password), **values)  # fmt: skip
    await repository.add(session, subscriber)
    after = audit.snapshot(subscriber)
    await audit.changed(session, principal, "subscriber.create", "subscriber", subscriber.id, {},
                        after, meta)  # fmt: skip
    return subscriber, generated


async def update_subscriber(
    session: AsyncSession, principal: Principal, subscriber_id: int, data: SubscriberUpdate,
    meta: audit.Meta = None,
) -> Subscriber:  # fmt: skip
    subscriber = await get_subscriber(session, principal, subscriber_id)
    values = data.model_dump(exclude_unset=True)
    if "password" in values:
        values["encrypted_password"] = secrets.encrypt(values.pop("password"))
    await _check_references(session, principal, values, subscriber)
    kind = values.get("kind", subscriber.kind)
    ip = values.get("ip_address", subscriber.ip_address)
    mac = values.get("mac", subscriber.mac)
    if kind == "static" and (ip is None or mac is None):
        raise BadRequest("a static client needs ip_address and mac")
    before = audit.snapshot(subscriber)
    for field, value in values.items():
        setattr(subscriber, field, value)
    subscriber.updated_at = datetime.now(UTC)
    await repository.flush(session)
    if "encrypted_password" in values:
        # Wrong passwords counted against the old one say nothing about the new one.
        await repository.clear_login_block(session, principal.tenant_id, subscriber.id)
    await session.refresh(subscriber)
    action = "subscriber.update"
    if set(values) == {"status"}:
        action = "subscriber.suspend" if values["status"] == "suspended" else "subscriber.resume"
    details: dict[str, Any] = {"fields": sorted(values)}
    if before.get("status") != subscriber.status:
        # A suspension ends the live session now (its next login is refused); a resumption
        # drops whatever the router still holds, so the next login gets the current answer.
        reason = "suspended" if subscriber.status == "suspended" else "resumed"
        sent = await control.disconnect_subscriber(
            session, principal.tenant_id, subscriber.id, reason=reason, actor=principal.email
        )
        details["sessions_disconnected"] = len(sent)
    await audit.changed(session, principal, action, "subscriber", subscriber.id, before,
                        audit.snapshot(subscriber), meta, details=details)  # fmt: skip
    return subscriber


async def unblock_subscriber(
    session: AsyncSession, principal: Principal, subscriber_id: int, meta: audit.Meta = None
) -> Subscriber:
    """Ends a block for wrong passwords now, on every device (audited). Its next login is
    checked as any other."""
    subscriber = await get_subscriber(session, principal, subscriber_id)
    before = audit.snapshot(subscriber)
    await repository.clear_login_block(session, principal.tenant_id, subscriber.id)
    await session.refresh(subscriber)
    await audit.changed(session, principal, "subscriber.unblock", "subscriber", subscriber.id,
                        before, audit.snapshot(subscriber), meta)  # fmt: skip
    return subscriber


async def delete_subscriber(
    session: AsyncSession, principal: Principal, subscriber_id: int, meta: audit.Meta = None
) -> None:
    subscriber = await get_subscriber(session, principal, subscriber_id)
    before = audit.snapshot(subscriber)
    await repository.remove(session, subscriber)
    await audit.changed(session, principal, "subscriber.delete", "subscriber", subscriber_id,
                        before, {}, meta)  # fmt: skip
