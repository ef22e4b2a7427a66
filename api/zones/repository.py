"""SQL for zones and their allocation to staff. A zone's path (its ids from the top) is kept
here: written on insert, rewritten for the zone and everything below it on a move."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import StaffZone, Subscriber, Zone
from api.tenancy import Principal, principal_sql, scoped, tenant_sql, zone_scope


def _visible(principal: Principal) -> Select[Zone]:
    return scoped(Zone, principal.tenant_id).where(zone_scope(principal, Zone.id))


async def list_(session: AsyncSession, principal: Principal) -> Sequence[Zone]:
    return (await session.scalars(_visible(principal).order_by(Zone.path))).all()


async def get(session: AsyncSession, principal: Principal, zone_id: int) -> Zone | None:
    return await session.scalar(_visible(principal).where(Zone.id == zone_id))


async def existing_ids(session: AsyncSession, tenant_id: int, zone_ids: list[int]) -> set[int]:
    stmt = scoped(Zone, tenant_id).where(Zone.id.in_(zone_ids)).with_only_columns(Zone.id)
    return set((await session.scalars(stmt)).all())


async def insert(session: AsyncSession, tenant_id: int, values: dict[str, Any],
                 parent_path: list[int]) -> int:  # fmt: skip
    """The new zone's id; its path is the parent's and its own id, taken in the same row."""
    return int(
        await session.scalar(
            tenant_sql(
                tenant_id,
                """
                WITH n AS (SELECT nextval(pg_get_serial_sequence('zone', 'id'))::integer AS id)
                INSERT INTO zone (id, tenant_id, parent_id, name, latitude, longitude, outline,
                                  path)
                SELECT n.id, :tenant_id, :parent_id, :name, :latitude, :longitude,
                       CAST(:outline AS jsonb), CAST(:parent_path AS integer[]) || n.id
                  FROM n
                RETURNING id""",
            ),
            {**values, "parent_path": parent_path},
        )  # fmt: skip
    )


async def move(session: AsyncSession, tenant_id: int, zone_id: int, parent_path: list[int]) -> None:
    """The zone and every zone below it now hang under `parent_path`."""
    await session.execute(
        tenant_sql(tenant_id, """
            UPDATE zone SET path = CAST(:prefix AS integer[]) || path[array_position(path, :z):]
             WHERE {tenant} AND path @> ARRAY[CAST(:z AS integer)]"""),
        {"prefix": parent_path, "z": zone_id},
    )  # fmt: skip


async def members(session: AsyncSession, principal: Principal, zone_id: int) -> dict[str, list]:
    """What still hangs in a zone: zones directly below it, routers, subscribers (ids)."""
    children = await session.scalars(
        scoped(Zone, principal.tenant_id)
        .where(Zone.parent_id == zone_id)
        .with_only_columns(Zone.id)
    )
    routers = await session.scalars(
        principal_sql(principal, "SELECT r.id FROM router r WHERE {tenant:r} AND {routers:r.id}"
                                 " AND r.zone_id = :z ORDER BY r.id"),
        {"z": zone_id},
    )  # fmt: skip
    subscribers = await session.scalars(
        scoped(Subscriber, principal.tenant_id)
        .where(Subscriber.zone_id == zone_id)
        .with_only_columns(Subscriber.id)
        .order_by(Subscriber.id)
        .limit(20)
    )
    return {"zones": list(children), "routers": list(routers), "subscribers": list(subscribers)}


async def delete(session: AsyncSession, zone: Zone) -> None:
    await session.delete(zone)
    await session.flush()


async def allocations(session: AsyncSession, tenant_id: int) -> dict[int, list[int]]:
    rows = await session.execute(
        scoped(StaffZone, tenant_id).order_by(StaffZone.staff_id, StaffZone.zone_id)
    )
    result: dict[int, list[int]] = {}
    for (row,) in rows:
        result.setdefault(row.staff_id, []).append(row.zone_id)
    return result


async def replace_allocation(
    session: AsyncSession, tenant_id: int, staff_id: int, zone_ids: list[int]
) -> None:
    """The staff member's zones become exactly `zone_ids` (the composite foreign keys refuse
    another ISP's)."""
    await session.execute(
        tenant_sql(tenant_id, "DELETE FROM staff_zone WHERE {tenant} AND staff_id = :s"),
        {"s": staff_id},
    )
    if zone_ids:
        await session.execute(
            tenant_sql(tenant_id, """
                INSERT INTO staff_zone (tenant_id, staff_id, zone_id)
                SELECT :tenant_id, :s, unnest(CAST(:zones AS integer[]))"""),
            {"s": staff_id, "zones": zone_ids},
        )  # fmt: skip
