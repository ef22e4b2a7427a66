"""SQL of staff identity: second factors, recovery codes and API tokens. Every statement starts
from the tenant scope (`scoped()` or `tenant_sql()`)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import RecoveryCode, SecondFactor
from api.tenancy import scoped, tenant_sql


async def second_factor(
    session: AsyncSession, tenant_id: int, staff_id: int, *, lock: bool = False
) -> SecondFactor | None:
    stmt = scoped(SecondFactor, tenant_id).where(SecondFactor.staff_id == staff_id)
    return await session.scalar(stmt.with_for_update() if lock else stmt)


async def ensure_second_factor(
    session: AsyncSession, tenant_id: int, staff_id: int
) -> SecondFactor:
    """The person's row, created empty if they have none; locked for the caller's change."""
    await session.execute(
        tenant_sql(
            tenant_id,
            "INSERT INTO second_factor (staff_id, tenant_id) VALUES (:staff_id, :tenant_id)"
            " ON CONFLICT (staff_id) DO NOTHING",
        ).bindparams(staff_id=staff_id)
    )
    row = await second_factor(session, tenant_id, staff_id, lock=True)
    assert row is not None
    return row


async def take_totp_step(session: AsyncSession, tenant_id: int, staff_id: int, step: int) -> bool:
    """Records `step` as the last TOTP step used, if it is later than the one on record: one
    guarded UPDATE, so two logins with the same code cannot both pass."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE second_factor SET totp_last_step = :step, updated_at = now()"
            " WHERE {tenant} AND staff_id = :staff_id AND method = 'totp'"
            " AND (totp_last_step IS NULL OR totp_last_step < :step) RETURNING staff_id",
        ).bindparams(staff_id=staff_id, step=step)
    )
    return result.first() is not None


async def replace_recovery_codes(
    session: AsyncSession, tenant_id: int, staff_id: int, hashes: list[str]
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id, "DELETE FROM recovery_code WHERE {tenant} AND staff_id = :staff_id"
        ).bindparams(staff_id=staff_id)
    )
    await session.execute(
        insert(RecoveryCode),
        [{"tenant_id": tenant_id, "staff_id": staff_id, "code_hash": h} for h in hashes],
    )


async def use_recovery_code(
    session: AsyncSession, tenant_id: int, staff_id: int, code_hash: str
) -> bool:
    """Marks the code used if it is this person's and unused; one guarded UPDATE."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE recovery_code SET used_at = now() WHERE {tenant} AND staff_id = :staff_id"
            " AND code_hash = :code_hash AND used_at IS NULL RETURNING id",
        ).bindparams(staff_id=staff_id, code_hash=code_hash)
    )
    return result.first() is not None


async def unused_recovery_codes(session: AsyncSession, tenant_id: int, staff_id: int) -> int:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "SELECT count(*) FROM recovery_code"
            " WHERE {tenant} AND staff_id = :staff_id AND used_at IS NULL",
        ).bindparams(staff_id=staff_id)
    )
    return int(result.scalar_one())
