"""Staff accounts of a tenant: creation, roles, router allocations, deactivation.

The owner rules: only an owner changes or deactivates an owner or makes someone owner, and an
ISP always keeps at least one active owner. The last check runs under a per-tenant lock
(repository.lock_owners), so two demotions at once cannot both pass. A role change or a
deactivation takes effect on the person's next request: api.tenancy.current_principal reads the
role and the active flag from the database every time."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, passwords, staff_sessions
from api.auth import repository as auth_repository
from api.auth import tokens as auth_tokens
from api.db import after_commit
from api.errors import BadRequest, Conflict, Forbidden, NotFound
from api.models import StaffUser, Tenant
from api.permissions import ISP_ROLES
from api.routers import repository as routers_repository
from api.security import hash_password
from api.staff import repository
from api.staff.schemas import NewTokenOut, PolicyOut, StaffOut, TokenInfo
from api.tenancy import Principal
from api.zones import repository as zones_repository


async def create_staff(
    session: AsyncSession, actor: Principal, *, email: str, password: str, role: str
) -> StaffUser:
    if role not in ISP_ROLES:
        raise BadRequest(f"Unknown role {role!r}; use one of {', '.join(ISP_ROLES)}")
    if problem := passwords.problem(password, email):
        raise BadRequest(problem)
    password_hash = await asyncio.to_thread(hash_password, password)
    staff = await repository.insert(
        session, actor.tenant_id, email=email, password_hash=password_hash, role=role
    )
    await audit.record(
        session, actor, "staff.create", "staff_user", staff.id, {"email": staff.email, "role": role}
    )
    return staff


async def list_staff(session: AsyncSession, actor: Principal) -> list[StaffOut]:
    allocated = await repository.allocations(session, actor.tenant_id)
    zones = await zones_repository.allocations(session, actor.tenant_id)
    methods = await auth_repository.second_factor_methods(session, actor.tenant_id)
    return [
        StaffOut(id=s.id, email=s.email, role=s.role, active=s.active,  # type: ignore[arg-type]
                 router_ids=allocated.get(s.id, []), zone_ids=zones.get(s.id, []),
                 second_factor=methods.get(s.id))  # type: ignore[arg-type]
        for s in await repository.list_(session, actor.tenant_id)
    ]  # fmt: skip


async def find(session: AsyncSession, actor: Principal, email: str) -> StaffUser:
    staff = await auth_repository.staff_by_email(session, actor.tenant_id, email.strip())
    if staff is None:
        raise NotFound(f"No staff member with email {email!r}")
    return staff


async def _target(session: AsyncSession, actor: Principal, staff_id: int) -> StaffUser:
    staff = await auth_repository.staff(session, actor.tenant_id, staff_id)
    if staff is None:
        raise NotFound("Staff member not found")
    return staff


def _check_owner_rules(actor: Principal, target: StaffUser, new_role: str | None) -> None:
    if actor.role == "owner":
        return
    if target.role == "owner":
        raise Forbidden("Only an owner can change or deactivate an owner")
    if new_role == "owner":
        raise Forbidden("Only an owner can make someone an owner")


async def _keep_an_owner(session: AsyncSession, actor: Principal, target: StaffUser) -> None:
    """Refuses taking away the last active owner (the caller holds the owners' lock)."""
    if target.role == "owner" and target.active:
        if await repository.active_owners(session, actor.tenant_id) <= 1:
            raise Conflict(
                f"{target.email} is this ISP's last active owner; make someone else owner first"
            )


async def change_role(
    session: AsyncSession, actor: Principal, staff_id: int, role: str, meta: audit.Meta = None
) -> StaffOut:
    await repository.lock_owners(session, actor.tenant_id)
    target = await _target(session, actor, staff_id)  # another ISP's person: 404 first
    if role not in ISP_ROLES:
        raise BadRequest(f"Unknown role {role!r}; use one of {', '.join(ISP_ROLES)}")
    await session.refresh(target)  # read after the lock: a concurrent change has committed
    _check_owner_rules(actor, target, role)
    before = target.role
    if role != "owner":
        await _keep_an_owner(session, actor, target)
    target.role = role
    await session.flush()
    _end_sessions(session, target.id)
    await audit.changed(
        session,
        actor,
        "staff.role",
        "staff_user",
        target.id,
        {"role": before},
        {"role": role},
        meta,
    )
    return await _out(session, actor, target)


async def deactivate(
    session: AsyncSession, actor: Principal, staff_id: int, meta: audit.Meta = None
) -> StaffOut:
    await repository.lock_owners(session, actor.tenant_id)
    target = await _target(session, actor, staff_id)
    await session.refresh(target)
    _check_owner_rules(actor, target, None)
    await _keep_an_owner(session, actor, target)
    before = target.active
    target.active = False
    await session.flush()
    _end_sessions(session, target.id)
    await audit.changed(
        session, actor, "staff.deactivate", "staff_user", target.id,
        {"active": before}, {"active": False}, meta,
    )  # fmt: skip
    return await _out(session, actor, target)


async def reset_second_factor(
    session: AsyncSession, actor: Principal, staff_id: int, meta: audit.Meta = None
) -> StaffOut:
    """For someone who lost their second factor and its recovery codes: it is removed and their
    sessions end; signing in again, they set up a new one (straight away if the ISP requires
    one). Only an owner resets an owner's; one's own goes through /api/v1/me with proof."""
    target = await _target(session, actor, staff_id)
    _check_owner_rules(actor, target, None)
    if target.id == actor.staff_id:
        raise Forbidden("Your own second factor changes with a code of it (/api/v1/me)")
    row = await auth_repository.second_factor(session, actor.tenant_id, target.id)
    before = row.method if row else None
    await auth_repository.clear_second_factor(session, actor.tenant_id, target.id)
    _end_sessions(session, target.id)
    await audit.changed(
        session, actor, "staff.second_factor_reset", "staff_user", target.id,
        {"second_factor": before}, {"second_factor": None}, meta,
    )  # fmt: skip
    return await _out(session, actor, target)


def _end_sessions(session: AsyncSession, staff_id: int) -> None:
    """A new role, a deactivation or a reset second factor ends every login of the person once
    it commits (their next request would be refused or re-read anyway; this also empties "my
    sessions")."""

    async def end() -> None:
        await staff_sessions.end_all(staff_id)

    after_commit(session, end)


async def set_routers(
    session: AsyncSession,
    actor: Principal,
    staff_id: int,
    router_ids: list[int],
    meta: audit.Meta = None,
) -> StaffOut:
    """A tech's routers become exactly `router_ids`; every id must be a router of this ISP."""
    target = await _target(session, actor, staff_id)
    if target.role != "tech":
        raise BadRequest(
            f"{target.email} is {target.role}: only techs are limited to allocated routers"
        )
    wanted = sorted(set(router_ids))
    known = await routers_repository.existing_ids(session, actor.tenant_id, wanted)
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise BadRequest(f"No router of this ISP has id {', '.join(map(str, unknown))}")
    before = (await repository.allocations(session, actor.tenant_id)).get(target.id, [])
    await repository.replace_routers(session, actor.tenant_id, target.id, wanted)
    await audit.changed(
        session, actor, "staff.routers", "staff_user", target.id,
        {"router_ids": before}, {"router_ids": wanted}, meta,
    )  # fmt: skip
    return await _out(session, actor, target)


async def set_zones(
    session: AsyncSession,
    actor: Principal,
    staff_id: int,
    zone_ids: list[int],
    meta: audit.Meta = None,
) -> StaffOut:
    """A tech's zones become exactly `zone_ids` (each of this ISP): the tech then sees the
    routers and subscribers of those zones and of every zone below them."""
    target = await _target(session, actor, staff_id)
    if target.role != "tech":
        raise BadRequest(f"{target.email} is {target.role}: only techs are limited to zones")
    wanted = sorted(set(zone_ids))
    known = await zones_repository.existing_ids(session, actor.tenant_id, wanted)
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise BadRequest(f"No zone of this ISP has id {', '.join(map(str, unknown))}")
    before = (await zones_repository.allocations(session, actor.tenant_id)).get(target.id, [])
    await zones_repository.replace_allocation(session, actor.tenant_id, target.id, wanted)
    await audit.changed(
        session, actor, "staff.zones", "staff_user", target.id,
        {"zone_ids": before}, {"zone_ids": wanted}, meta,
    )  # fmt: skip
    return await _out(session, actor, target)


async def _out(session: AsyncSession, actor: Principal, staff: StaffUser) -> StaffOut:
    zones = await zones_repository.allocations(session, actor.tenant_id)
    allocated = await repository.allocations(session, actor.tenant_id)
    methods = await auth_repository.second_factor_methods(session, actor.tenant_id)
    return StaffOut(id=staff.id, email=staff.email, role=staff.role,  # type: ignore[arg-type]
                    active=staff.active, router_ids=allocated.get(staff.id, []),
                    zone_ids=zones.get(staff.id, []),
                    second_factor=methods.get(staff.id))  # type: ignore[arg-type]  # fmt: skip


# ------------------------------------------------------------------ the ISP's sign-in policy


async def policy(session: AsyncSession, actor: Principal) -> PolicyOut:
    tenant = await session.get(Tenant, actor.tenant_id)
    assert tenant is not None
    return PolicyOut(require_second_factor=tenant.require_second_factor)


async def set_policy(
    session: AsyncSession, actor: Principal, require_second_factor: bool, meta: audit.Meta = None
) -> PolicyOut:
    """An owner (P.STAFF_POLICY) requires, or stops requiring, a second factor of all staff;
    requiring one needs one of their own first. Staff without one are signed out: their next
    login may only enrol."""
    tenant = await session.get(Tenant, actor.tenant_id, with_for_update=True)
    assert tenant is not None and actor.staff_id is not None
    before = tenant.require_second_factor
    if require_second_factor and not before:
        unenrolled = await auth_repository.unenrolled_staff(session, actor.tenant_id)
        if actor.staff_id in unenrolled:
            raise Conflict("Set up your own second factor first (/api/v1/me/second-factor)")
        for staff_id in unenrolled:
            _end_sessions(session, staff_id)
    tenant.require_second_factor = require_second_factor
    await session.flush()
    await audit.changed(
        session, actor, "staff.policy", "tenant", actor.tenant_id,
        {"require_second_factor": before}, {"require_second_factor": require_second_factor}, meta,
    )  # fmt: skip
    return PolicyOut(require_second_factor=require_second_factor)


# ------------------------------------------------------------------ API tokens


async def tokens(session: AsyncSession, actor: Principal) -> list[TokenInfo]:
    return [TokenInfo.model_validate(t) for t in await auth_tokens.list_(session, actor)]


async def create_token(
    session: AsyncSession, actor: Principal, name: str, permissions: list[str], meta: audit.Meta
) -> NewTokenOut:
    secret, token = await auth_tokens.create(session, actor, name, permissions, meta)
    return NewTokenOut(**TokenInfo.model_validate(token).model_dump(), token=secret)


async def revoke_token(
    session: AsyncSession, actor: Principal, token_id: int, meta: audit.Meta
) -> TokenInfo:
    return TokenInfo.model_validate(await auth_tokens.revoke(session, actor, token_id, meta))
