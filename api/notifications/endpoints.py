"""Notification routes: an ISP's rules per event (settings:read to see, settings:write to
change) and its notifications with what became of each."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import ClientMeta, DbId, IdPath, SessionDep
from api.notifications import outages, rules, service
from api.notifications.outages import OutageIn, OutageOut
from api.notifications.schemas import NotificationOut, RuleIn, RuleOut
from api.permissions import P
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]
Event = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,39}$", description="e.g. usage.data")]


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(principal: Reader, session: SessionDep) -> list[RuleOut]:
    """Every event with what the ISP chose (or the defaults)."""
    return await rules.rules(session, principal)


@router.put("/rules/{event}", response_model=RuleOut)
async def save_rule(
    event: Event, body: RuleIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> RuleOut:
    """On or off, the channels, and the ISP's own wording (null: the default), audited."""
    return await rules.save(session, principal, event, body, meta)


@router.get("", response_model=list[NotificationOut])
async def list_notifications(
    principal: Reader, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50, before: DbId | None = None,
) -> list[NotificationOut]:  # fmt: skip
    """The ISP's notifications, newest first (keyset: before = the last id seen), each with
    what became of it (done: which channels; skipped: why)."""
    return await service.recent(session, principal, limit, before)


outages_router = APIRouter(prefix="/api/v1/outages", tags=["notifications"])
RouterWriter = Annotated[Principal, Depends(require(P.ROUTERS_WRITE))]
RouterReader = Annotated[Principal, Depends(require(P.ROUTERS_READ))]


@outages_router.post("", response_model=OutageOut, status_code=201)
async def announce_outage(
    body: OutageIn, principal: RouterWriter, session: SessionDep, meta: ClientMeta
) -> OutageOut:
    """An outage or maintenance at one router (a tech: only theirs) or, router_id null, across
    the ISP (owners and admins): each customer online there with a sold voucher is told once,
    and the captive portal shows it until it ends. Audited."""
    return await outages.announce(session, principal, body, meta)


@outages_router.get("", response_model=list[OutageOut])
async def list_outages(principal: RouterReader, session: SessionDep) -> list[OutageOut]:
    return list(await outages.recent(session, principal))


@outages_router.post("/{outage_id}/end", response_model=OutageOut)
async def end_outage(
    outage_id: IdPath, principal: RouterWriter, session: SessionDep, meta: ClientMeta
) -> OutageOut:
    return await outages.end(session, principal, outage_id, meta)
