"""Outages and maintenance: staff announce one at a router (a tech only at theirs), in a zone (its
routers and those of every zone below it; a tech only in their zones) or across the ISP (owners
and admins); each customer online there with a sold voucher is told once (one notification per
outage and voucher, decided in the announcement's transaction), and the captive portal shows it
until it is ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, and_, func, or_
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import Forbidden, NotFound
from api.models import Outage
from api.notifications import decisions
from api.notifications.repository_scoped import live_sold_vouchers
from api.permissions import P
from api.routers import service as routers
from api.tenancy import Principal, allowed, router_scope, scoped, zone_scope
from api.zones import service as zones


class OutageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    router_id: int | None = Field(None, ge=1, le=2_147_483_647, description="At this router.")
    zone_id: int | None = Field(
        None, ge=1, le=2_147_483_647, description="At the routers of this zone and below it."
    )
    message: str = Field(min_length=5, max_length=300, description="What customers are told.")
    ends_at: datetime | None = Field(None, description="When it is expected to end (optional).")

    @model_validator(mode="after")
    def _one_place(self) -> OutageIn:
        if self.router_id is not None and self.zone_id is not None:
            raise ValueError("name a router or a zone, not both (neither: the whole ISP)")
        return self


class OutageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    router_id: int | None
    zone_id: int | None = None
    message: str
    starts_at: datetime
    ends_at: datetime | None
    created_by: str
    told: int = Field(0, description="Customers online there who are told (when announced).")


async def announce(
    session: AsyncSession, principal: Principal, data: OutageIn, meta: audit.Meta = None
) -> OutageOut:
    if data.router_id is not None:
        await routers.get_router(session, principal, data.router_id)  # 404 if not theirs
    elif data.zone_id is not None:
        await zones.get_zone(session, principal, data.zone_id)  # 404 if not theirs
    elif not allowed(principal, P.ROUTERS_MANAGE):
        raise Forbidden("Only owners and admins announce an outage of the whole ISP")
    message = " ".join(data.message.split())
    outage = Outage(
        tenant_id=principal.tenant_id, router_id=data.router_id, zone_id=data.zone_id,
        message=message,
        ends_at=data.ends_at, created_by=principal.email,
    )  # fmt: skip
    session.add(outage)
    await session.flush()
    await session.refresh(outage)
    vouchers = await live_sold_vouchers(session, principal.tenant_id, data.router_id,
                                        data.zone_id)  # fmt: skip
    for voucher_id in vouchers:
        await decisions.decide(
            session, principal.tenant_id, "outage", f"outage:{outage.id}:{voucher_id}",
            voucher_id, {"message": message},
        )  # fmt: skip
    await audit.record(session, principal, "outage.announce", "outage", outage.id,
                       {"router_id": data.router_id, "zone_id": data.zone_id, "message": message,
                        "told": len(vouchers)}, meta)  # fmt: skip
    out = OutageOut.model_validate(outage)
    out.told = len(vouchers)
    return out


def _isp_wide() -> ColumnElement[bool]:
    return and_(Outage.router_id.is_(None), Outage.zone_id.is_(None))


def _visible(principal: Principal) -> ColumnElement[bool]:
    """A tech sees the ISP-wide outages, their own routers' and their own zones'."""
    return or_(
        _isp_wide(),
        router_scope(principal, Outage.router_id),
        zone_scope(principal, Outage.zone_id),
    )


async def recent(session: AsyncSession, principal: Principal) -> Sequence[OutageOut]:
    stmt = scoped(Outage, principal.tenant_id).where(_visible(principal))
    rows = await session.scalars(stmt.order_by(Outage.id.desc()).limit(50))
    return [OutageOut.model_validate(row) for row in rows]


async def end(
    session: AsyncSession, principal: Principal, outage_id: int, meta: audit.Meta = None
) -> OutageOut:
    stmt = scoped(Outage, principal.tenant_id).where(Outage.id == outage_id, _visible(principal))
    outage = await session.scalar(stmt.with_for_update())
    if outage is None:
        raise NotFound("Outage not found")
    if (
        outage.router_id is None
        and outage.zone_id is None
        and not allowed(principal, P.ROUTERS_MANAGE)
    ):
        raise Forbidden("Only owners and admins end an outage of the whole ISP")
    if outage.ends_at is None or outage.ends_at > await session.scalar(func.now()):
        outage.ends_at = await session.scalar(func.now())
        await session.flush()
        await audit.record(session, principal, "outage.end", "outage", outage.id, {}, meta)
    return OutageOut.model_validate(outage)
