"""SQL for staff users and the routers allocated to them; emails are stored lower-case so
lookups need no function index."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, constraint_name
from api.models import StaffRouter, StaffUser
from api.tenancy import scoped, tenant_sql


async def get_by_email(session: AsyncSession, tenant_id: int, email: str) -> StaffUser | None:
    stmt = scoped(StaffUser, tenant_id).where(StaffUser.email == email.lower())
    return await session.scalar(stmt)


async def get(session: AsyncSession, tenant_id: int, staff_id: int) -> StaffUser | None:
    return await session.scalar(scoped(StaffUser, tenant_id).where(StaffUser.id == staff_id))


async def list_(session: AsyncSession, tenant_id: int) -> Sequence[StaffUser]:
    stmt = scoped(StaffUser, tenant_id).order_by(StaffUser.email)
    return (await session.scalars(stmt)).all()


async def insert(
    session: AsyncSession, tenant_id: int, *, email: str, password_hash: str, role: str
) -> StaffUser:
    staff = StaffUser(
        tenant_id=tenant_id, email=email.lower(), password_hash=password_hash, role=role
    )
    session.add(staff)
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_name(exc) == "uq_staff_user_tenant_id_email":
            raise Conflict(f"A staff user with email {email!r} already exists") from exc
        raise
    return staff


async def rehash(
    session: AsyncSession, tenant_id: int, staff_id: int, *, old: str, new: str
) -> None:
    """Stores `new`, the same password hashed with today's argon2 parameters, unless the hash
    changed since `old` was read (a new password meanwhile must not be undone)."""
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE staff_user SET password_hash = :new"
            " WHERE {tenant} AND id = :staff_id AND password_hash = :old",
        ).bindparams(staff_id=staff_id, old=old, new=new)
    )


async def lock_owners(session: AsyncSession, tenant_id: int) -> None:
    """Serializes changes that could leave the ISP without an active owner (until commit)."""
    await session.execute(
        tenant_sql(tenant_id, "SELECT pg_advisory_xact_lock(hashtext('staff_owners'), :tenant_id)")
    )


async def active_owners(session: AsyncSession, tenant_id: int) -> int:
    stmt = scoped(StaffUser, tenant_id).where(StaffUser.role == "owner", StaffUser.active.is_(True))
    return int(await session.scalar(stmt.with_only_columns(func.count())) or 0)


async def allocations(session: AsyncSession, tenant_id: int) -> dict[int, list[int]]:
    """staff id -> allocated router ids (sorted)."""
    stmt = scoped(StaffRouter, tenant_id).order_by(StaffRouter.staff_id, StaffRouter.router_id)
    result: dict[int, list[int]] = {}
    for row in (await session.scalars(stmt)).all():
        result.setdefault(row.staff_id, []).append(row.router_id)
    return result


async def replace_routers(
    session: AsyncSession, tenant_id: int, staff_id: int, router_ids: list[int]
) -> None:
    """The staff member's routers become exactly `router_ids` (all of this tenant: the composite
    foreign keys refuse any other)."""
    await session.execute(
        tenant_sql(tenant_id, "DELETE FROM staff_router WHERE {tenant} AND staff_id = :s"),
        {"s": staff_id},
    )
    if router_ids:
        await session.execute(
            tenant_sql(tenant_id, """
                INSERT INTO staff_router (tenant_id, staff_id, router_id)
                SELECT :tenant_id, :s, unnest(CAST(:routers AS integer[]))"""),
            {"s": staff_id, "routers": router_ids},
        )  # fmt: skip
