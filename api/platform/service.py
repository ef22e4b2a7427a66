"""Platform operators: the people who run the SaaS, on the platform's own host. They have no
permission inside an ISP (api.permissions); there is no audited "act as an ISP" yet."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, passwords
from api.auth import limiter
from api.auth.schemas import TokenOut
from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest, Forbidden, Unauthorized
from api.models import PlatformOperator, Tenant
from api.platform import repository
from api.security import SessionData, create_session, hash_password, verify_password

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


async def login(*, email: str, password: str, on_isp_host: bool, ip: str | None) -> TokenOut:
    if on_isp_host:
        raise Forbidden("Platform operators sign in on the platform's own host, not an ISP's")
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
        actor = f"operator:{email.strip().lower()[:320]}"
        await audit.record(session, actor, "operator.login" if ok else "operator.login_failed",
                           "platform_operator", found.id if found else None, meta=ip)  # fmt: skip
        if ok and found is not None:
            await repository.signed_in(
                session, found.id, old_hash=found.password_hash, new_hash=new_hash
            )
    if not ok or found is None:
        raise Unauthorized(LOGIN_FAILED)
    await limiter.succeeded(LIMITER_SCOPE, email, ip)
    token = await create_session(
        SessionData(staff_id=found.id, tenant_id=None, tenant_slug=None, email=found.email,
                    role="operator")
    )  # fmt: skip
    return TokenOut(access_token=token, expires_in=int(get_settings().session_ttl.total_seconds()))


async def list_tenants(session: AsyncSession) -> Sequence[Tenant]:
    return await repository.tenants(session)
