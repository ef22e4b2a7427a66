"""Staff login and logout: the password, then (if the person has one) the second factor, each
step on a new session id; a login that still owes a code can do nothing but give it."""

from __future__ import annotations

from secrets import token_hex

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, staff_sessions
from api.auth import alerts, limiter, repository, second_factor
from api.auth.schemas import TokenOut
from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest, Unauthorized
from api.models import StaffUser, Tenant
from api.security import verify_password
from api.sms import service as sms
from api.tenancy import Principal

LOGIN_FAILED = "Wrong email, password or ISP"


def resolve_tenant_slug(subdomain: str | None, body_tenant: str | None) -> str:
    """The subdomain decides; the body field is for hosts without one (API clients, CLI)."""
    body = body_tenant.strip().lower() if body_tenant else None
    if subdomain and body and body != subdomain:
        raise BadRequest("The tenant field does not match this address's subdomain")
    slug = subdomain or body
    if not slug:
        raise BadRequest("Say which ISP you belong to: use its subdomain or the tenant field")
    return slug


async def login(
    *, tenant_slug: str, email: str, password: str, ip: str | None, user_agent: str | None = None
) -> TokenOut:
    await limiter.reserve(tenant_slug, email, ip)
    try:
        meta = audit.RequestMeta(ip, user_agent)
        ok, tenant, staff = await _check(tenant_slug, email, password, meta)
    except Exception:
        # Never judged (database down, too many checks at once): not a wrong password.
        await limiter.give_back(tenant_slug, email, ip)
        raise
    if not ok or staff is None or tenant is None:
        raise Unauthorized(LOGIN_FAILED)  # the attempt stays counted
    async with unit_of_work() as session:
        method = await second_factor.method(session, tenant.id, staff.id)
    stage: staff_sessions.Stage = "full"
    if method is not None:
        stage = "second_factor"
    elif tenant.require_second_factor:
        stage = "enrol"
    if stage == "second_factor":
        # The password was right, but the login is not over: only this attempt is returned.
        # Wrong codes of earlier logins stay counted, so someone who knows the password cannot
        # reset the count by signing in again between guesses at the code.
        await limiter.give_back(tenant_slug, email, ip)
    else:
        await limiter.succeeded(tenant_slug, email, ip)
    token, _ = await staff_sessions.create(staff.id, tenant.id, stage, ip, user_agent or "")
    if method == "sms":
        await _send_login_code(tenant.id, staff.id)
    return _token_out(token, stage, method)


def _token_out(token: str, stage: str, method: str | None) -> TokenOut:
    absolute = int(get_settings().session_absolute.total_seconds())
    return TokenOut(
        access_token=token, expires_in=absolute, stage=stage,  # type: ignore[arg-type]
        second_factor=method if stage == "second_factor" else None,  # type: ignore[arg-type]
    )  # fmt: skip


async def _send_login_code(tenant_id: int, staff_id: int) -> None:
    async with unit_of_work() as session:
        phone, code = await second_factor.send_login_code(session, tenant_id, staff_id)
    body = f"Your sign-in code is {code}. It expires in 5 minutes. Never share it."
    await sms.send_now(tenant_id, phone, body, "otp", f"login-otp:{staff_id}:{code}:{token_hex(4)}")


async def resend_code(session_id: str) -> None:
    """Another SMS code for a login that owes one (at most 3 per 15 minutes)."""
    found = await staff_sessions.load(session_id)
    if found is None or found.stage != "second_factor" or found.tenant_id is None:
        raise Unauthorized("Sign in with your password first")
    await _send_login_code(found.tenant_id, found.staff_id)


async def prove_second_factor(
    *, session_id: str, subdomain: str | None, code: str, meta: audit.RequestMeta
) -> TokenOut:
    """The code owed after the password: a TOTP code, an SMS code or a recovery code. Wrong
    codes take from the same budgets as wrong passwords (the login's ISP and e-mail, whichever
    address the code comes to). The login continues on a new id."""
    found = await staff_sessions.load(session_id)
    if found is None or found.stage != "second_factor" or found.tenant_id is None:
        raise Unauthorized("Sign in with your password first")
    async with unit_of_work() as session:
        staff = await repository.staff(session, found.tenant_id, found.staff_id)
        tenant = await session.get(Tenant, found.tenant_id)
    if staff is None or not staff.active or tenant is None:
        raise Unauthorized(LOGIN_FAILED)
    if subdomain is not None and subdomain != tenant.slug:
        raise Unauthorized("Sign in with your password first")
    async with limiter.judging(tenant.slug, staff.email, meta.ip):
        async with unit_of_work() as session:
            how = await second_factor.verify(session, found.tenant_id, staff.id, code)
            action = "auth.second_factor" if how else "auth.second_factor_failed"
            await audit.record(
                session, _principal(staff), action, "staff_user", staff.id, {"method": how}, meta
            )
            if how is None:
                await alerts.failed_login(session, found.tenant_id)
        if how is None:
            raise Unauthorized(second_factor.WRONG_CODE)
    rotated = await staff_sessions.rotate(session_id, "full")
    if rotated is None:
        raise Unauthorized("Sign in with your password first")
    return _token_out(rotated[0], "full", None)


async def _check(
    tenant_slug: str, email: str, password: str, meta: audit.RequestMeta
) -> tuple[bool, Tenant | None, StaffUser | None]:
    """Looks the person up, checks the password and audits the attempt."""
    # The lookup and the record own their units of work instead of taking the request's: a
    # failed login must be audited even though the request then fails with 401, and no
    # database connection is held while the password check waits for its turn.
    async with unit_of_work() as session:
        tenant, staff = await repository.active_staff(session, tenant_slug, email)
        password_hash = staff.password_hash if staff else None
    ok, new_hash = await verify_password(password, password_hash)
    async with unit_of_work() as session:
        if ok and staff is not None:
            await repository.signed_in(session, staff.tenant_id, staff.id)
            if new_hash is not None and password_hash is not None:  # older argon2 parameters
                await repository.rehash(
                    session, staff.tenant_id, staff.id, old=password_hash, new=new_hash
                )
            await audit.record(
                session, _principal(staff), "auth.login", "staff_user", staff.id, meta=meta
            )
        else:
            await audit.record(
                session,
                email.strip().lower()[:320],
                "auth.login_failed",
                "staff_user",
                staff.id if staff else None,
                {"tenant": tenant_slug},
                meta,
                tenant_id=tenant.id if tenant else None,
            )
            if tenant is not None:  # the ISP's owners hear of a burst of these
                await alerts.failed_login(session, tenant.id)
    return ok, tenant, staff


def _principal(staff: StaffUser) -> Principal:
    return Principal(
        staff_id=staff.id, tenant_id=staff.tenant_id, email=staff.email, role=staff.role
    )


async def logout(session: AsyncSession, principal: Principal, token: str, meta: audit.Meta) -> None:
    await staff_sessions.end(token)
    await audit.record(
        session, principal, "auth.logout", "staff_user", principal.staff_id, meta=meta
    )
