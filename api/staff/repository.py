"""SQL for staff users; emails are stored lower-case so lookups need no function index."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, constraint_name
from api.models import StaffUser
from api.tenancy import scoped


async def get_by_email(session: AsyncSession, tenant_id: int, email: str) -> StaffUser | None:
    stmt = scoped(StaffUser, tenant_id).where(StaffUser.email == email.lower())
    return await session.scalar(stmt)


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
