"""A person's own account: their second factor (set up, switch, recovery codes, turn off),
their password and their sessions.

Every code these steps check (a proof of the current second factor, the first code of a new
one, the current password) takes from the same budgets as a login's password (api.auth.limiter):
a stolen session cannot guess its way to the person's second factor. A step that changes how
the person signs in (a new or removed second factor, a new password) ends every other session
of theirs once it has committed, and moves this one to a new id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from secrets import token_hex

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, passwords, staff_sessions
from api.account.schemas import (
    ConfirmOut,
    SecondFactorOut,
    SessionOut,
    SmsStartOut,
    TotpStartOut,
)
from api.auth import limiter, second_factor
from api.auth import repository as auth_repository
from api.auth.schemas import TokenOut
from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from api.models import Tenant
from api.security import hash_password, verify_password
from api.sms import service as sms
from api.tenancy import Principal

WRONG_PASSWORD = "Your current password is not right"  # noqa: S105 - a message


async def _tenant(session: AsyncSession, principal: Principal) -> Tenant:
    tenant = await session.get(Tenant, principal.tenant_id)
    assert tenant is not None  # the principal was just read with it
    return tenant


@asynccontextmanager
async def _checking_a_code(principal: Principal, meta: audit.RequestMeta) -> AsyncIterator[None]:
    """The step counts as an attempt in the person's login budgets (api.auth.limiter.judging)."""
    async with unit_of_work() as session:
        slug = (await _tenant(session, principal)).slug
    async with limiter.judging(slug, principal.email, meta.ip):
        yield


async def _signed_in_afresh(principal: Principal, session_id: str) -> TokenOut:
    """After a change to how the person signs in: this session goes on under a new id, full
    (a login sent to enrol has now enrolled), and every other session of theirs ends."""
    rotated = await staff_sessions.rotate(session_id, "full")
    if rotated is None:
        raise Unauthorized("Your session ended meanwhile; sign in again")
    assert principal.staff_id is not None
    await staff_sessions.end_all(principal.staff_id, keep=rotated[1].key)
    absolute = int(get_settings().session_absolute.total_seconds())
    return TokenOut(access_token=rotated[0], expires_in=absolute, stage="full")


def _ids(principal: Principal) -> tuple[int, int]:
    assert principal.staff_id is not None  # api.tenancy.require_person
    return principal.tenant_id, principal.staff_id


# ------------------------------------------------------------------ second factor


async def second_factor_status(session: AsyncSession, principal: Principal) -> SecondFactorOut:
    tenant_id, staff_id = _ids(principal)
    row = await auth_repository.second_factor(session, tenant_id, staff_id)
    return SecondFactorOut(
        method=row.method if row else None,  # type: ignore[arg-type]
        pending=row.pending_method if row else None,  # type: ignore[arg-type]
        phone=sms.masked(row.phone) if row else None,
        recovery_codes_left=await auth_repository.unused_recovery_codes(
            session, tenant_id, staff_id
        ),
        required=(await _tenant(session, principal)).require_second_factor,
    )


async def _has_method(principal: Principal) -> bool:
    tenant_id, staff_id = _ids(principal)
    async with unit_of_work() as session:
        return await second_factor.method(session, tenant_id, staff_id) is not None


async def start_totp(
    principal: Principal, proof: str | None, meta: audit.RequestMeta
) -> TotpStartOut:
    """A new TOTP secret, pending until a code from it is confirmed. Replacing a second factor
    that is on needs a code from it first."""
    tenant_id, staff_id = _ids(principal)

    async def start() -> TotpStartOut:
        async with unit_of_work() as session:
            tenant = await _tenant(session, principal)
            enrolment = await second_factor.start_totp(
                session, tenant_id, staff_id, account=principal.email,
                issuer=f"{tenant.name} (mnetifi)", proof=proof,
            )  # fmt: skip
            await audit.record(
                session, principal, "second_factor.start", "staff_user", staff_id,
                {"method": "totp"}, meta,
            )  # fmt: skip
        return TotpStartOut(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)

    if await _has_method(principal):
        async with _checking_a_code(principal, meta):
            return await start()
    return await start()


async def pending_totp(principal: Principal) -> TotpStartOut | None:
    """The authenticator secret started and not confirmed yet, to ask for its code again."""
    tenant_id, staff_id = _ids(principal)
    async with unit_of_work() as session:
        tenant = await _tenant(session, principal)
        enrolment = await second_factor.pending_totp(
            session, tenant_id, staff_id, account=principal.email,
            issuer=f"{tenant.name} (mnetifi)",
        )  # fmt: skip
    if enrolment is None:
        return None
    return TotpStartOut(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


async def start_sms(
    principal: Principal, phone: str, proof: str | None, meta: audit.RequestMeta
) -> SmsStartOut:
    """Sends a code to `phone`, which becomes the SMS second factor once the code is confirmed.
    At most 3 codes per 15 minutes."""
    tenant_id, staff_id = _ids(principal)

    async def start() -> str:
        async with unit_of_work() as session:
            code = await second_factor.start_sms(
                session, tenant_id, staff_id, phone=phone, proof=proof
            )
            await audit.record(
                session, principal, "second_factor.start", "staff_user", staff_id,
                {"method": "sms", "phone": sms.masked(phone)}, meta,
            )  # fmt: skip
        return code

    if await _has_method(principal):
        async with _checking_a_code(principal, meta):
            code = await start()
    else:
        code = await start()
    body = f"Your code to turn on SMS sign-in codes is {code}. It expires in 5 minutes."
    await sms.send_now(tenant_id, phone, body, "otp", f"enrol-otp:{staff_id}:{code}:{token_hex(4)}")
    return SmsStartOut(sent_to=sms.masked(phone) or "")


async def confirm(
    principal: Principal, session_id: str, code: str, meta: audit.RequestMeta
) -> ConfirmOut:
    """Turns the pending method on with a code from it: ten new recovery codes (shown once),
    every other session of the person ended, this one under a new id."""
    tenant_id, staff_id = _ids(principal)
    async with _checking_a_code(principal, meta):
        async with unit_of_work() as session:
            before = await second_factor.method(session, tenant_id, staff_id)
            codes = await second_factor.confirm(session, tenant_id, staff_id, code)
            after = await second_factor.method(session, tenant_id, staff_id)
            await audit.changed(
                session, principal, "second_factor.enable", "staff_user", staff_id,
                {"method": before}, {"method": after}, meta,
            )  # fmt: skip
    token = await _signed_in_afresh(principal, session_id)
    return ConfirmOut(**token.model_dump(), recovery_codes=codes)


async def renew_recovery_codes(
    principal: Principal, proof: str, meta: audit.RequestMeta
) -> list[str]:
    tenant_id, staff_id = _ids(principal)
    async with _checking_a_code(principal, meta):
        async with unit_of_work() as session:
            codes = await second_factor.renew_recovery_codes(session, tenant_id, staff_id, proof)
            await audit.record(
                session, principal, "second_factor.recovery_codes", "staff_user", staff_id,
                meta=meta,
            )  # fmt: skip
    return codes


async def turn_off(
    principal: Principal, session_id: str, proof: str, meta: audit.RequestMeta
) -> TokenOut:
    """Removes the person's second factor (with a code from it), unless their ISP requires one."""
    tenant_id, staff_id = _ids(principal)
    async with unit_of_work() as session:
        if (await _tenant(session, principal)).require_second_factor:
            raise Conflict("Your ISP requires a second factor; switch to another one instead")
    async with _checking_a_code(principal, meta):
        async with unit_of_work() as session:
            was = await second_factor.turn_off(session, tenant_id, staff_id, proof)
            await audit.changed(
                session, principal, "second_factor.disable", "staff_user", staff_id,
                {"method": was}, {"method": None}, meta,
            )  # fmt: skip
    return await _signed_in_afresh(principal, session_id)


# ------------------------------------------------------------------ password


async def change_password(
    principal: Principal, session_id: str, current: str, new: str, meta: audit.RequestMeta
) -> TokenOut:
    """A new password, with the current one: every other session of the person ends."""
    tenant_id, staff_id = _ids(principal)
    if problem := passwords.problem(new, principal.email):
        raise BadRequest(problem)
    async with _checking_a_code(principal, meta):
        async with unit_of_work() as session:
            staff = await auth_repository.staff(session, tenant_id, staff_id)
            stored = staff.password_hash if staff else None
        right, _ = await verify_password(current, stored)  # it is replaced just below anyway
        if not right:
            raise Forbidden(WRONG_PASSWORD)
    if current == new:
        raise BadRequest("The new password is the one you have; choose another")
    new_hash = await asyncio.to_thread(hash_password, new)
    async with unit_of_work() as session:
        await auth_repository.set_password(session, tenant_id, staff_id, new_hash)
        await audit.record(
            session, principal, "auth.password_change", "staff_user", staff_id, meta=meta
        )
    return await _signed_in_afresh(principal, session_id)


# ------------------------------------------------------------------ sessions


async def sessions(principal: Principal, current_key: str) -> list[SessionOut]:
    _, staff_id = _ids(principal)
    return [
        SessionOut(
            key=s.key,
            created_at=datetime.fromtimestamp(s.created, UTC),
            last_used_at=datetime.fromtimestamp(s.last_used, UTC),
            ip=s.ip,
            user_agent=s.user_agent,
            current=s.key == current_key,
        )
        for s in await staff_sessions.list_for(staff_id)
    ]


async def end_session(
    session: AsyncSession, principal: Principal, key: str, meta: audit.RequestMeta
) -> None:
    """Ends one of the person's sessions (this one too, if they choose it)."""
    _, staff_id = _ids(principal)
    if not await staff_sessions.end_by_key(staff_id, key):
        raise NotFound("No such session of yours: it has ended already")
    await audit.record(
        session, principal, "auth.session_end", "staff_user", staff_id,
        {"session": key[:12]}, meta,
    )  # fmt: skip
