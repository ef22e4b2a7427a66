"""Password reset by one-time link (48 h, works once; api.auth.links), mailed to the person.

Asking answers the same whether or not the account exists, and the mail goes out after the
answer, so neither the words nor the time tell anyone which e-mails are staff. A reset ends
every session of the person; their second factor stays as it was (a reset is not a way around
it: the next login still asks for the code)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from api import audit, mail, passwords, staff_sessions
from api.auth import limiter, links, repository
from api.db import unit_of_work
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.models import Tenant
from api.security import hash_password
from api.tenancy import Principal, admin_url

log = logging.getLogger(__name__)


async def request(
    tenant_slug: str, email: str, scheme: str, meta: audit.RequestMeta
) -> Callable[[], Awaitable[None]] | None:
    """Makes a reset link if the account exists; returns what sends it (for after the answer)."""
    await limiter.reset_request(tenant_slug, email, meta.ip)
    async with unit_of_work() as session:
        tenant, staff = await repository.active_staff(session, tenant_slug, email)
        if tenant is None or staff is None:
            return None
        token, link = await links.create(
            session, tenant.id, "reset", email=staff.email, channel="email", staff_id=staff.id
        )
        await audit.record(
            session, staff.email, "auth.password_reset_request", "staff_user", staff.id,
            {"link": link.id}, meta, tenant_id=tenant.id,
        )  # fmt: skip
        to, name = staff.email, tenant.name
    url = admin_url(tenant_slug, "reset-password", scheme, f"token={token}")
    text = (
        f"Someone (we hope you) asked to reset your password for {name}'s mnetifi dashboard.\n\n"
        f"Choose a new one here; the link works once, for {links.LINK_HOURS} hours:\n{url}\n\n"
        "If it was not you, ignore this message: your password stays as it is."
    )

    async def send() -> None:
        try:
            await mail.send(to, f"Reset your {name} password", text)
        except ServiceUnavailable:
            log.warning("password reset mail for staff %s not sent", link.staff_id)

    return send


async def confirm(
    token: str, password: str, subdomain: str | None, meta: audit.RequestMeta
) -> None:
    """Sets the new password from a reset link and ends every session of the person."""
    await limiter.link_attempt(meta.ip)
    async with unit_of_work() as session:
        link = await links.use(session, token, "reset")
        tenant = await session.get(Tenant, link.tenant_id)
        staff = (
            await repository.staff(session, link.tenant_id, link.staff_id)
            if link.staff_id
            else None
        )
        if (
            staff is None
            or not staff.active
            or tenant is None
            or not tenant.active
            or (subdomain and subdomain != tenant.slug)
        ):
            raise NotFound(links.GONE)
        # Refusing the password rolls the transaction back: the link still works.
        if problem := passwords.problem(password, staff.email):
            raise BadRequest(problem)
        new_hash = await asyncio.to_thread(hash_password, password)
        await repository.set_password(session, tenant.id, staff.id, new_hash)
        who = Principal(staff_id=staff.id, tenant_id=tenant.id, email=staff.email, role=staff.role)
        await audit.record(
            session, who, "auth.password_reset", "staff_user", staff.id, {"link": link.id}, meta
        )
        staff_id = staff.id
    await limiter.link_worked(meta.ip)
    await staff_sessions.end_all(staff_id)
