"""SQL of staff identity: second factors, recovery codes, API tokens and one-time links. Every
statement starts from the tenant scope (`scoped()`, `in_tenant()` or `tenant_sql()`); the two
that find a token or a link by its hash are credentials that name their ISP themselves, looked
up before anyone is known (api.tenancy.find_token, api.auth.credentials)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import ApiToken, RecoveryCode, SecondFactor, StaffLink, StaffUser, Tenant
from api.tenancy import in_tenant, scoped, tenant_sql
from api.tenants import repository as tenant_repository


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
    if hashes:
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


# ------------------------------------------------------------------ API tokens


async def insert_token(session: AsyncSession, tenant_id: int, **values: object) -> ApiToken:
    token = ApiToken(tenant_id=tenant_id, **values)
    session.add(token)
    await session.flush()
    return token


async def tokens(session: AsyncSession, tenant_id: int) -> list[ApiToken]:
    stmt = scoped(ApiToken, tenant_id).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id)
    return list((await session.scalars(stmt)).all())


async def revoke_token(session: AsyncSession, tenant_id: int, token_id: int) -> ApiToken | None:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE api_token SET revoked_at = COALESCE(revoked_at, now())"
            " WHERE {tenant} AND id = :id RETURNING id",
        ).bindparams(id=token_id)
    )
    if result.first() is None:
        return None
    token = await session.scalar(scoped(ApiToken, tenant_id).where(ApiToken.id == token_id))
    if token is not None:
        await session.refresh(token)
    return token


# ------------------------------------------------------------------ one-time links


async def insert_link(session: AsyncSession, tenant_id: int, **values: object) -> StaffLink:
    link = StaffLink(tenant_id=tenant_id, **values)
    session.add(link)
    await session.flush()
    return link


async def pending_invites(session: AsyncSession, tenant_id: int) -> list[StaffLink]:
    stmt = (
        scoped(StaffLink, tenant_id)
        .where(
            StaffLink.purpose == "invite",
            StaffLink.used_at.is_(None),
            StaffLink.expires_at > func.now(),
        )
        .order_by(StaffLink.id.desc())
    )
    return list((await session.scalars(stmt)).all())


async def withdraw_invite(session: AsyncSession, tenant_id: int, link_id: int) -> StaffLink | None:
    """Spends a pending invitation without anyone joining; None if it is not pending."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE staff_link SET used_at = now() WHERE {tenant} AND id = :id"
            " AND purpose = 'invite' AND used_at IS NULL AND expires_at > now() RETURNING id",
        ).bindparams(id=link_id)
    )
    if result.first() is None:
        return None
    return await session.scalar(scoped(StaffLink, tenant_id).where(StaffLink.id == link_id))


async def clear_second_factor(session: AsyncSession, tenant_id: int, staff_id: int) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE second_factor SET method = NULL, totp_secret_enc = NULL, totp_last_step = NULL,"
            " phone = NULL, pending_method = NULL, pending_secret_enc = NULL, pending_phone = NULL,"
            " enabled_at = NULL, updated_at = now() WHERE {tenant} AND staff_id = :staff_id",
        ).bindparams(staff_id=staff_id)
    )
    await replace_recovery_codes(session, tenant_id, staff_id, [])


async def second_factor_methods(session: AsyncSession, tenant_id: int) -> dict[int, str]:
    """staff id -> the second factor on ('totp' or 'sms'), for the ISP's staff who have one."""
    stmt = scoped(SecondFactor, tenant_id).where(SecondFactor.method.is_not(None))
    return {row.staff_id: row.method for row in (await session.scalars(stmt)).all() if row.method}


async def unenrolled_staff(session: AsyncSession, tenant_id: int) -> list[int]:
    """Active staff without a second factor turned on."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "SELECT s.id FROM staff_user s LEFT JOIN second_factor f ON f.staff_id = s.id"
            " AND {tenant:f} WHERE {tenant:s} AND s.active AND f.method IS NULL",
        )
    )
    return [row[0] for row in result]


# ------------------------------------------------------------------ staff credentials
# A staff member's row as signing in reads it (staff management, api.staff, builds on these).


async def staff_by_email(session: AsyncSession, tenant_id: int, email: str) -> StaffUser | None:
    stmt = scoped(StaffUser, tenant_id).where(StaffUser.email == email.lower())
    return await session.scalar(stmt)


async def active_staff(
    session: AsyncSession, tenant_slug: str, email: str
) -> tuple[Tenant | None, StaffUser | None]:
    """The ISP of the slug (None if unknown), and its active staff member with that e-mail (None
    if none, or the ISP is inactive): whom a login or a password reset is about."""
    tenant = await tenant_repository.get_by_slug(session, tenant_slug)
    if tenant is None or not tenant.active:
        return tenant, None
    staff = await staff_by_email(session, tenant.id, email.strip())
    return tenant, staff if staff is not None and staff.active else None


async def staff(session: AsyncSession, tenant_id: int, staff_id: int) -> StaffUser | None:
    return await session.scalar(scoped(StaffUser, tenant_id).where(StaffUser.id == staff_id))


async def signed_in(session: AsyncSession, tenant_id: int, staff_id: int) -> None:
    """Notes when the person last signed in."""
    await session.execute(
        update(StaffUser)
        .where(in_tenant(StaffUser, tenant_id), StaffUser.id == staff_id)
        .values(last_login_at=datetime.now(UTC))
    )


async def set_password(
    session: AsyncSession, tenant_id: int, staff_id: int, password_hash: str
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id, "UPDATE staff_user SET password_hash = :hash WHERE {tenant} AND id = :id"
        ).bindparams(hash=password_hash, id=staff_id)
    )


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
