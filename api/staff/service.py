"""Staff accounts of a tenant."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import BadRequest
from api.models import StaffUser
from api.security import hash_password
from api.staff import repository
from api.tenancy import PERMISSIONS, Principal

MIN_PASSWORD_LENGTH = 10


async def create_staff(
    session: AsyncSession, actor: Principal, *, email: str, password: str, role: str
) -> StaffUser:
    if role not in PERMISSIONS:
        raise BadRequest(f"Unknown role {role!r}; use one of {', '.join(PERMISSIONS)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequest(f"Password must be at least {MIN_PASSWORD_LENGTH} characters")
    password_hash = await asyncio.to_thread(hash_password, password)
    staff = await repository.insert(
        session, actor.tenant_id, email=email, password_hash=password_hash, role=role
    )
    await audit.record(
        session, actor, "staff.create", "staff_user", staff.id, {"email": staff.email, "role": role}
    )
    return staff
