"""SQL for the platform's operators and their view of every ISP: deliberately not tenant-scoped
(operators sit above every ISP)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, constraint_name
from api.models import PlatformOperator, Tenant


async def get_by_email(session: AsyncSession, email: str) -> PlatformOperator | None:
    stmt = select(PlatformOperator).where(PlatformOperator.email == email.lower())
    return await session.scalar(stmt)


async def insert(session: AsyncSession, *, email: str, password_hash: str) -> PlatformOperator:
    operator = PlatformOperator(email=email.lower(), password_hash=password_hash)
    session.add(operator)
    try:
        await session.flush()
    except IntegrityError as exc:
        if constraint_name(exc) == "uq_platform_operator_email":
            raise Conflict(f"An operator with email {email!r} already exists") from exc
        raise
    return operator


async def signed_in(
    session: AsyncSession, operator_id: int, *, old_hash: str, new_hash: str | None = None
) -> None:
    """Records the login; `new_hash` (the password hashed with today's argon2 parameters)
    replaces `old_hash` unless the hash changed meanwhile."""
    await session.execute(
        update(PlatformOperator)
        .where(PlatformOperator.id == operator_id)
        .values(last_login_at=datetime.now(UTC))
    )
    if new_hash is not None:
        await session.execute(
            update(PlatformOperator)
            .where(PlatformOperator.id == operator_id, PlatformOperator.password_hash == old_hash)
            .values(password_hash=new_hash)
        )


async def tenants(session: AsyncSession) -> Sequence[Tenant]:
    return (await session.scalars(select(Tenant).order_by(Tenant.slug))).all()
