"""Zones: the tree of an ISP's areas. Moving a zone carries everything below it; a move under
itself or under one of its own zones is refused (a cycle); a zone that still holds zones,
routers or subscribers is not deleted until they are moved (the answer says which)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest, Conflict, NotFound
from api.models import Zone
from api.tenancy import Principal
from api.zones import repository
from api.zones.schemas import ZoneCreate, ZoneUpdate

FIELDS = ("name", "parent_id", "latitude", "longitude", "outline")


async def list_zones(session: AsyncSession, principal: Principal) -> Sequence[Zone]:
    return await repository.list_(session, principal)


async def get_zone(session: AsyncSession, principal: Principal, zone_id: int) -> Zone:
    zone = await repository.get(session, principal, zone_id)
    if zone is None:
        raise NotFound("Zone not found")
    return zone


async def visible_zone(session: AsyncSession, principal: Principal, zone_id: int) -> Zone:
    """A zone the principal may put things in (a tech: one of theirs), else a clear 4xx."""
    zone = await repository.get(session, principal, zone_id)
    if zone is None:
        raise BadRequest(f"No zone {zone_id} of yours: choose one of GET /api/v1/zones")
    return zone


async def create_zone(
    session: AsyncSession, principal: Principal, data: ZoneCreate, meta: audit.Meta = None
) -> Zone:
    parent_path: list[int] = []
    if data.parent_id is not None:
        parent_path = list((await visible_zone(session, principal, data.parent_id)).path)
    values = data.model_dump()
    values["outline"] = json.dumps(data.outline) if data.outline is not None else None
    zone_id = await repository.insert(session, principal.tenant_id, values, parent_path)
    zone = await get_zone(session, principal, zone_id)
    await audit.changed(session, principal, "zone.create", "zone", zone.id, {},
                        audit.snapshot(zone), meta)  # fmt: skip
    return zone


async def update_zone(
    session: AsyncSession, principal: Principal, zone_id: int, data: ZoneUpdate,
    meta: audit.Meta = None,
) -> Zone:  # fmt: skip
    zone = await get_zone(session, principal, zone_id)
    before = audit.snapshot(zone)
    values = data.model_dump(exclude_unset=True)
    if "parent_id" in values and values["parent_id"] != zone.parent_id:
        parent_path: list[int] = []
        if values["parent_id"] is not None:
            parent = await visible_zone(session, principal, values["parent_id"])
            if zone.id in parent.path:
                raise Conflict(
                    f"Zone {parent.name!r} lies inside {zone.name!r} (or is it): moving "
                    f"{zone.name!r} under it would make a circle"
                )
            parent_path = list(parent.path)
        await repository.move(session, principal.tenant_id, zone.id, parent_path)
    for field, value in values.items():
        setattr(zone, field, value)
    await session.flush()
    await session.refresh(zone)
    await audit.changed(session, principal, "zone.update", "zone", zone.id, before,
                        audit.snapshot(zone), meta)  # fmt: skip
    return zone


async def delete_zone(
    session: AsyncSession, principal: Principal, zone_id: int, meta: audit.Meta = None
) -> None:
    zone = await get_zone(session, principal, zone_id)
    held = await repository.members(session, principal, zone.id)
    if any(held.values()):
        what = "; ".join(f"{kind} {', '.join(map(str, ids))}" for kind, ids in held.items() if ids)
        raise Conflict(
            f"Zone {zone.name!r} still holds {what}: move them to another zone (PATCH their "
            "zone_id or parent_id) before deleting it"
        )
    before = audit.snapshot(zone)
    await repository.delete(session, zone)
    await audit.changed(session, principal, "zone.delete", "zone", zone_id, before, {}, meta)
