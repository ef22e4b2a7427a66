"""Reading and changing an ISP's settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import NotFound
from api.messaging import repository as messages
from api.models import Tenant
from api.settings import repository
from api.settings.schemas import SettingsOut, SettingsUpdate
from api.tenancy import Principal


async def _tenant(session: AsyncSession, principal: Principal) -> Tenant:
    tenant = await repository.get(session, principal.tenant_id)
    if tenant is None:  # deleted while the token was still valid
        raise NotFound("Tenant not found")
    return tenant


async def get_settings(session: AsyncSession, principal: Principal) -> SettingsOut:
    return SettingsOut.model_validate(await _tenant(session, principal))


async def update_settings(
    session: AsyncSession, principal: Principal, data: SettingsUpdate, meta: audit.Meta = None
) -> SettingsOut:
    tenant = await _tenant(session, principal)
    values = data.model_dump(exclude_unset=True)
    before = audit.snapshot(tenant, *values)
    await repository.update(session, tenant, values)
    if "quiet_hours_from" in values:  # held offers are judged again against the new hours
        await messages.release_held(session, tenant.id)
    after = audit.snapshot(tenant, *values)
    await audit.changed(
        session, principal, "settings.update", "tenant", tenant.id, before, after, meta
    )
    return SettingsOut.model_validate(tenant)
