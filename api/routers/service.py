"""Registering MikroTik routers with FreeRADIUS (it reads them through the `nas` view)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.models import Router
from api.routers import repository
from api.routers.schemas import RouterCreate, RouterUpdate
from api.tenancy import Principal
from api.zones import service as zones_service

GENERATED_SECRET_LENGTH = 24
# Letters and digits only: safe unquoted in RouterOS scripts and FreeRADIUS config.
_SECRET_ALPHABET = string.ascii_letters + string.digits


def generate_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(GENERATED_SECRET_LENGTH))


async def list_routers(session: AsyncSession, principal: Principal) -> Sequence[Router]:
    return await repository.list_(session, principal)


async def get_router(session: AsyncSession, principal: Principal, router_id: int) -> Router:
    router = await repository.get(session, principal, router_id)
    if router is None:
        raise NotFound("Router not found")
    return router


async def create_router(
    session: AsyncSession, principal: Principal, data: RouterCreate, meta: audit.Meta = None
) -> Router:
    values = data.model_dump()
    values["secret"] = data.secret or generate_secret()
    if data.zone_id is not None:
        await zones_service.visible_zone(session, principal, data.zone_id)
    router = await repository.insert(session, principal.tenant_id, values)
    after = audit.snapshot(router)
    await audit.changed(session, principal, "router.create", "router", router.id, {}, after, meta)
    return router


async def update_router(
    session: AsyncSession,
    principal: Principal,
    router_id: int,
    data: RouterUpdate,
    meta: audit.Meta = None,
) -> tuple[Router, bool]:
    """Returns the router and whether its secret changed (then it is shown once)."""
    router = await get_router(session, principal, router_id)
    values = data.model_dump(exclude_unset=True)
    if values.get("zone_id") is not None:
        # A tech puts a router only in one of their zones (else they would lose it).
        await zones_service.visible_zone(session, principal, values["zone_id"])
    secret_changed = "secret" in values and values["secret"] != router.secret
    before = audit.snapshot(router)
    await repository.update(session, router, values)
    # The secret is logged as "changed", never its value (audit.SECRET_FIELDS); a rotation is
    # its own action so it can be found on its own.
    action = "router.secret_rotate" if secret_changed else "router.update"
    details = {"fields": sorted(values)}
    await audit.changed(
        session,
        principal,
        action,
        "router",
        router.id,
        before,
        audit.snapshot(router),
        meta,
        details=details,
    )
    return router, secret_changed


async def delete_router(
    session: AsyncSession, principal: Principal, router_id: int, meta: audit.Meta = None
) -> None:
    router = await get_router(session, principal, router_id)
    before = audit.snapshot(router)
    await repository.delete(session, router)
    await audit.changed(session, principal, "router.delete", "router", router_id, before, {}, meta)
