"""Staff login and logout."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.auth import limiter
from api.auth.schemas import TokenOut
from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest, Unauthorized
from api.models import StaffUser, Tenant
from api.security import SessionData, create_session, delete_session, verify_password
from api.staff import repository as staff_repository
from api.tenancy import Principal
from api.tenants import repository as tenant_repository

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
    await limiter.succeeded(tenant_slug, email, ip)
    token = await create_session(
        SessionData(
            staff_id=staff.id,
            tenant_id=tenant.id,
            tenant_slug=tenant.slug,
            email=staff.email,
            role=staff.role,
        )
    )
    return TokenOut(access_token=token, expires_in=int(get_settings().session_ttl.total_seconds()))


async def _check(
    tenant_slug: str, email: str, password: str, meta: audit.RequestMeta
) -> tuple[bool, Tenant | None, StaffUser | None]:
    """Looks the person up, checks the password and audits the attempt."""
    # The lookup and the record own their units of work instead of taking the request's: a
    # failed login must be audited even though the request then fails with 401, and no
    # database connection is held while the password check waits for its turn.
    async with unit_of_work() as session:
        tenant, staff = await _find_staff(session, tenant_slug, email)
        password_hash = staff.password_hash if staff else None
    ok = await verify_password(password, password_hash)
    async with unit_of_work() as session:
        if ok and staff is not None:
            await session.execute(
                update(StaffUser)
                .where(StaffUser.id == staff.id)
                .values(last_login_at=datetime.now(UTC))
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
    return ok, tenant, staff


async def _find_staff(
    session: AsyncSession, tenant_slug: str, email: str
) -> tuple[Tenant | None, StaffUser | None]:
    tenant = await tenant_repository.get_by_slug(session, tenant_slug)
    if tenant is None or not tenant.active:
        return tenant, None
    staff = await staff_repository.get_by_email(session, tenant.id, email.strip())
    return tenant, staff if staff is not None and staff.active else None


def _principal(staff: StaffUser) -> Principal:
    return Principal(
        staff_id=staff.id, tenant_id=staff.tenant_id, email=staff.email, role=staff.role
    )


async def logout(session: AsyncSession, principal: Principal, token: str, meta: audit.Meta) -> None:
    await delete_session(token)
    await audit.record(
        session, principal, "auth.logout", "staff_user", principal.staff_id, meta=meta
    )
