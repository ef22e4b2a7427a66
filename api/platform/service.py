"""Platform operators: the people who run the SaaS, on the platform's own host. They have no
permission inside an ISP (api.permissions); there is no audited "act as an ISP" yet. They sign in
on the staff session store (api.staff_sessions: idle and absolute timeouts, rotation, the
cookie and its CSRF token) and always with TOTP (api.platform.second_factor)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, passwords, staff_sessions
from api.auth import limiter
from api.auth.schemas import TokenOut
from api.auth.second_factor import WRONG_CODE, TotpEnrolment
from api.config import get_settings
from api.db import after_commit, unit_of_work
from api.errors import BadRequest, Forbidden, NotFound, Unauthorized
from api.models import PlatformOperator, Tenant
from api.platform import repository, second_factor
from api.security import hash_password, verify_password
from api.staff import service as staff_service
from api.tenancy import Operator, Principal
from api.tenants import repository as tenants_repository
from api.tenants.schemas import TenantCreate

LIMITER_SCOPE = "*platform"  # not a valid slug: operators' sign-in counters stand apart
LOGIN_FAILED = "Wrong email or password"


async def create_operator(session: AsyncSession, *, email: str, password: str) -> PlatformOperator:
    if problem := passwords.problem(password, email):
        raise BadRequest(problem)
    password_hash = await asyncio.to_thread(hash_password, password)
    operator = await repository.insert(session, email=email, password_hash=password_hash)
    await audit.record(session, "cli", "operator.create", "platform_operator", operator.id,
                       {"email": operator.email})  # fmt: skip
    return operator


async def login(
    *, email: str, password: str, on_isp_host: bool, meta: audit.RequestMeta
) -> TokenOut:
    """The password; the session then owes the TOTP code (stage second_factor), or, for an
    operator without one yet, may only set it up (stage enrol). Never a full session."""
    if on_isp_host:
        raise Forbidden("Platform operators sign in on the platform's own host, not an ISP's")
    ip = meta.ip
    await limiter.reserve(LIMITER_SCOPE, email, ip)
    try:
        async with unit_of_work() as session:
            operator = await repository.get_by_email(session, email.strip())
        found = operator if operator is not None and operator.active else None
        ok, new_hash = await verify_password(password, found.password_hash if found else None)
    except Exception:
        await limiter.give_back(LIMITER_SCOPE, email, ip)
        raise
    async with unit_of_work() as session:
        actor = _actor(email)
        await audit.record(session, actor, "operator.login" if ok else "operator.login_failed",
                           "platform_operator", found.id if found else None, meta=meta)  # fmt: skip
        if ok and found is not None:
            await repository.signed_in(
                session, found.id, old_hash=found.password_hash, new_hash=new_hash
            )
    if not ok or found is None:
        raise Unauthorized(LOGIN_FAILED)
    stage: staff_sessions.Stage = "second_factor" if found.totp_secret_enc else "enrol"
    # Not over until the code: only this attempt is returned, earlier wrong codes stay counted
    # (as for staff, api.auth.service.login).
    await limiter.give_back(LIMITER_SCOPE, email, ip)
    token, _ = await staff_sessions.create(found.id, None, stage, ip, meta.user_agent or "")
    return _token_out(token, stage)


def _actor(email: str) -> str:
    return f"operator:{email.strip().lower()[:320]}"


def _token_out(token: str, stage: staff_sessions.Stage) -> TokenOut:
    return TokenOut(
        access_token=token,
        expires_in=int(get_settings().session_absolute.total_seconds()),
        stage=stage,
        second_factor="totp" if stage == "second_factor" else None,
    )


async def prove(session_id: str, code: str, meta: audit.RequestMeta) -> TokenOut:
    """The TOTP code (or a recovery code) a login owes; wrong codes take from the login's
    budgets. The session continues under a new id."""
    found = await staff_sessions.load(session_id)
    if found is None or found.stage != "second_factor" or found.tenant_id is not None:
        raise Unauthorized("Sign in with your password first")
    async with unit_of_work() as session:
        operator = await repository.get(session, found.staff_id)
    if not operator.active:
        raise Unauthorized(LOGIN_FAILED)
    async with limiter.judging(LIMITER_SCOPE, operator.email, meta.ip):
        async with unit_of_work() as session:
            how = await second_factor.verify(session, operator.id, code)
            action = "operator.second_factor" if how else "operator.second_factor_failed"
            await audit.record(session, _actor(operator.email), action, "platform_operator",
                               operator.id, {"method": how}, meta)  # fmt: skip
        if how is None:
            raise Unauthorized(WRONG_CODE)
    rotated = await staff_sessions.rotate(session_id, "full")
    if rotated is None:
        raise Unauthorized("Sign in with your password first")
    return _token_out(rotated[0], "full")


async def start_totp(
    operator: Operator, proof: str | None, meta: audit.RequestMeta
) -> TotpEnrolment:
    """A new pending secret; replacing one that is on needs a code of it (a wrong one counts
    like a wrong password)."""
    async with limiter.judging(LIMITER_SCOPE, operator.email, meta.ip):
        async with unit_of_work() as session:
            enrolment = await second_factor.start(
                session, operator.operator_id, operator.email, proof
            )
            await audit.record(session, _actor(operator.email), "operator.second_factor_start",
                               "platform_operator", operator.operator_id, meta=meta)  # fmt: skip
    return enrolment


async def confirm_totp(
    operator: Operator, session_id: str, code: str, meta: audit.RequestMeta
) -> tuple[TokenOut, list[str]]:
    """The authenticator is on: recovery codes (shown once), every other session of the
    operator ended, this one full under a new id."""
    async with limiter.judging(LIMITER_SCOPE, operator.email, meta.ip):
        async with unit_of_work() as session:
            codes = await second_factor.confirm(session, operator.operator_id, code)
            await audit.record(session, _actor(operator.email), "operator.second_factor_enable",
                               "platform_operator", operator.operator_id, meta=meta)  # fmt: skip
    rotated = await staff_sessions.rotate(session_id, "full")
    if rotated is None:
        raise Unauthorized("Your session ended meanwhile; sign in again")
    await staff_sessions.end_all(operator.operator_id, keep=rotated[1].key, operator=True)
    return _token_out(rotated[0], "full"), codes


async def logout(operator: Operator, session_id: str, meta: audit.RequestMeta) -> None:
    await staff_sessions.end(session_id)
    async with unit_of_work() as session:
        await audit.record(session, _actor(operator.email), "operator.logout",
                           "platform_operator", operator.operator_id, meta=meta)  # fmt: skip


async def list_tenants(session: AsyncSession) -> Sequence[Tenant]:
    return await repository.tenants(session)


async def create_isp(session: AsyncSession, data: TenantCreate) -> Tenant:
    """A new ISP with its first owner (the CLI's `tenant create`; the platform's sign-up later)."""
    tenant = await tenants_repository.insert(session, slug=data.slug, name=data.name)
    actor = Principal.cli(tenant.id)
    await audit.record(session, actor, "tenant.create", "tenant", tenant.id, {"slug": tenant.slug})
    await staff_service.create_staff(
        session, actor, email=str(data.admin_email), password=data.admin_password, role="owner"
    )
    return tenant


async def reset_authenticator(session: AsyncSession, *, email: str) -> PlatformOperator:
    """For an operator who lost their authenticator and its recovery codes (the CLI, with the
    server's access): it is removed and their sessions end; the next login sets up a new one."""
    operator = await repository.get_by_email(session, email.strip())
    if operator is None:
        raise NotFound(f"No platform operator with email {email!r}")
    operator.totp_secret_enc = operator.pending_secret_enc = None
    operator.totp_last_step = None
    operator.totp_enabled_at = None
    await repository.replace_recovery_codes(session, operator.id, [])
    await session.flush()
    await audit.record(session, "cli", "operator.second_factor_reset", "platform_operator",
                       operator.id, {"email": operator.email})  # fmt: skip
    operator_id = operator.id

    async def sign_out() -> None:
        await staff_sessions.end_all(operator_id, operator=True)

    after_commit(session, sign_out)
    return operator
