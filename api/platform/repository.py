"""SQL for the platform's operators and their view of every ISP: deliberately not tenant-scoped
(operators sit above every ISP)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy import insert as insert_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, Unauthorized, constraint_name
from api.models import OperatorRecoveryCode, PlatformOperator, Tenant


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


async def get(session: AsyncSession, operator_id: int, *, lock: bool = False) -> PlatformOperator:
    stmt = select(PlatformOperator).where(PlatformOperator.id == operator_id)
    operator = await session.scalar(stmt.with_for_update() if lock else stmt)
    if operator is None:
        raise Unauthorized("This account is deactivated or no longer exists")
    return operator


async def take_totp_step(session: AsyncSession, operator_id: int, step: int) -> bool:
    """Records `step` as the last TOTP step used if it is later than the one on record: two
    logins with one code cannot both pass."""
    result = await session.execute(
        update(PlatformOperator)
        .where(
            PlatformOperator.id == operator_id,
            PlatformOperator.totp_secret_enc.is_not(None),
            or_(PlatformOperator.totp_last_step.is_(None), PlatformOperator.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .returning(PlatformOperator.id)
    )
    return result.first() is not None


async def replace_recovery_codes(
    session: AsyncSession, operator_id: int, hashes: list[str]
) -> None:
    await session.execute(
        delete(OperatorRecoveryCode).where(OperatorRecoveryCode.operator_id == operator_id)
    )
    if hashes:
        await session.execute(
            insert_rows(OperatorRecoveryCode),
            [{"operator_id": operator_id, "code_hash": h} for h in hashes],
        )


async def use_recovery_code(session: AsyncSession, operator_id: int, code_hash: str) -> bool:
    result = await session.execute(
        update(OperatorRecoveryCode)
        .where(
            OperatorRecoveryCode.operator_id == operator_id,
            OperatorRecoveryCode.code_hash == code_hash,
            OperatorRecoveryCode.used_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(OperatorRecoveryCode.id)
    )
    return result.first() is not None
