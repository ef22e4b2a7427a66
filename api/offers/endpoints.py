"""Offer routes (owners and admins: offers:send): compose and send an offer, see who it would
reach, the offers sent with their progress, and the ISP's consent counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ClientMeta, DbId, IdPath, SessionDep
from api.offers import service
from api.offers.schemas import Audience, BroadcastIn, BroadcastOut, ConsentCounts, OptOutIn
from api.permissions import P
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/broadcasts", tags=["offers"])
Sender = Annotated[Principal, Depends(require(P.OFFERS))]


@router.post("", response_model=BroadcastOut, status_code=201)
async def send_offer(
    body: BroadcastIn, principal: Sender, session: SessionDep, meta: ClientMeta
) -> BroadcastOut:
    """Sends an offer to every consenting phone (counted now), on the chosen channels, ending
    with "STOP to <shortcode> to stop offers". Held during the ISP's quiet hours. Audited."""
    return await service.send(session, principal, body, meta)


@router.get("", response_model=list[BroadcastOut])
async def list_offers(
    principal: Sender, session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20, before: DbId | None = None,
) -> list[BroadcastOut]:  # fmt: skip
    """The offers sent, newest first (keyset: before = the last id seen), with progress."""
    return await service.recent(session, principal, limit, before)


@router.get("/audience", response_model=Audience)
async def offer_audience(principal: Sender, session: SessionDep) -> Audience:
    """How many phones an offer sent now would reach, and whether one can be sent."""
    return await service.audience(session, principal)


@router.get("/consent", response_model=ConsentCounts)
async def consent_counts(principal: Sender, session: SessionDep) -> ConsentCounts:
    return await service.consent_counts(session, principal)


@router.post("/consent/opt-out", response_model=ConsentCounts)
async def opt_out(
    body: OptOutIn, principal: Sender, session: SessionDep, meta: ClientMeta
) -> ConsentCounts:
    """Opts a phone out of offers (the customer asked staff). Audited."""
    return await service.opt_out(session, principal, body.phone, meta)


@router.get("/{broadcast_id}", response_model=BroadcastOut)
async def get_offer(broadcast_id: IdPath, principal: Sender, session: SessionDep) -> BroadcastOut:
    """One offer with its progress: messages decided, held, sent, delivered, failed, skipped,
    and what they cost."""
    return await service.one(session, principal, broadcast_id)
