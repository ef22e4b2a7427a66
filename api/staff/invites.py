"""Invitations: an owner or admin invites someone by e-mail or SMS with a one-time link (48 h,
works once, api.auth.links); following it, the person chooses a password and joins with the
role (and a tech with the routers) the invitation gave.

The SMS goes out through the ISP's SMS outbox in the invitation's own transaction (sent once it
commits, exactly once). The e-mail is sent before the transaction commits: if the mail server
refuses it the invitation is not made (503), so no invitation exists that nobody received."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, mail, passwords
from api.auth import limiter, links
from api.auth import repository as auth_repository
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, Forbidden, NotFound
from api.models import StaffLink, Tenant
from api.routers import repository as routers_repository
from api.security import hash_password
from api.sms import service as sms
from api.staff import repository
from api.staff.schemas import AcceptOut, InviteIn, InviteOut
from api.tenancy import Principal, admin_url


def _out(link: StaffLink) -> InviteOut:
    return InviteOut(
        id=link.id, email=link.email, role=link.role,  # type: ignore[arg-type]
        channel=link.channel,  # type: ignore[arg-type]
        phone=sms.masked(link.phone), router_ids=link.router_ids,
        created_at=link.created_at, expires_at=link.expires_at,
    )  # fmt: skip


async def invite(
    session: AsyncSession, actor: Principal, body: InviteIn, scheme: str, meta: audit.Meta
) -> InviteOut:
    if body.role == "owner" and actor.role != "owner":
        raise Forbidden("Only an owner can invite an owner")
    if body.channel == "sms" and body.phone is None:
        raise BadRequest("An invitation by SMS needs the phone number (+2547...)")
    if body.router_ids and body.role != "tech":
        raise BadRequest("Only techs are limited to routers: leave router_ids empty")
    wanted = sorted(set(body.router_ids))
    known = await routers_repository.existing_ids(session, actor.tenant_id, wanted)
    if unknown := [i for i in wanted if i not in known]:
        raise BadRequest(f"No router of this ISP has id {', '.join(map(str, unknown))}")
    if await auth_repository.staff_by_email(session, actor.tenant_id, body.email) is not None:
        raise Conflict(f"{body.email} is already on this ISP's staff")
    tenant = await session.get(Tenant, actor.tenant_id)
    assert tenant is not None
    token, link = await links.create(
        session, actor.tenant_id, "invite", email=body.email, channel=body.channel,
        role=body.role, router_ids=wanted, created_by=actor.staff_id, phone=body.phone,
    )  # fmt: skip
    await audit.record(
        session, actor, "staff.invite", "staff_link", link.id,
        {"email": link.email, "role": body.role, "channel": body.channel,
         "phone": sms.masked(body.phone), "router_ids": wanted}, meta,
    )  # fmt: skip
    url = admin_url(tenant.slug, "accept-invite", scheme, f"token={token}")
    text = (
        f"{tenant.name} invites you to its mnetifi dashboard as {body.role}. The link works "
        f"once, for {links.LINK_HOURS} hours: {url}"
    )
    if body.channel == "sms":
        assert body.phone is not None
        key = f"invite:{link.id}"
        await sms.send_sms(session, actor.tenant_id, body.phone, text, "invite", key)
    else:
        await mail.send(link.email, f"Join {tenant.name} on mnetifi", text)
    return _out(link)


async def pending(session: AsyncSession, actor: Principal) -> list[InviteOut]:
    return [_out(link) for link in await auth_repository.pending_invites(session, actor.tenant_id)]


async def withdraw(
    session: AsyncSession, actor: Principal, invite_id: int, meta: audit.Meta
) -> None:
    link = await auth_repository.withdraw_invite(session, actor.tenant_id, invite_id)
    if link is None:
        raise NotFound("No pending invitation with that id")
    await audit.record(
        session, actor, "staff.invite_withdraw", "staff_link", link.id, {"email": link.email}, meta
    )


async def accept(
    token: str, password: str, subdomain: str | None, meta: audit.RequestMeta
) -> AcceptOut:
    """The invited person joins with the password they chose. Unknown, used and expired links
    answer alike (404), and count against the address."""
    await limiter.link_attempt(meta.ip)
    async with unit_of_work() as session:
        link = await links.use(session, token, "invite")
        tenant = await session.get(Tenant, link.tenant_id)
        if tenant is None or not tenant.active or (subdomain and subdomain != tenant.slug):
            raise NotFound(links.GONE)
        # Refusing the password rolls the transaction back: the link still works.
        if problem := passwords.problem(password, link.email):
            raise BadRequest(problem)
        password_hash = await asyncio.to_thread(hash_password, password)
        assert link.role is not None  # the table's check: an invitation carries its role
        staff = await repository.insert(
            session, tenant.id, email=link.email, password_hash=password_hash, role=link.role
        )
        routers = await routers_repository.existing_ids(session, tenant.id, link.router_ids)
        if link.role == "tech" and routers:
            await repository.replace_routers(session, tenant.id, staff.id, sorted(routers))
        joined = Principal(staff_id=staff.id, tenant_id=tenant.id, email=staff.email,
                           role=staff.role)  # fmt: skip
        await audit.record(
            session, joined, "staff.invite_accept", "staff_user", staff.id,
            {"invite": link.id, "role": staff.role}, meta,
        )  # fmt: skip
    await limiter.link_worked(meta.ip)
    return AcceptOut(email=staff.email, role=staff.role, tenant=tenant.slug)  # type: ignore[arg-type]
