"""Staff routes for promo codes, /api/v1/promos: list, create, read, change, deactivate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.promos import service
from api.promos.schemas import PromoCreate, PromoOut, PromoUpdate
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/promos", tags=["promos"])

# Promo codes change what plans cost: the same rights as plans.
Reader = Annotated[Principal, Depends(require(P.PLANS_READ))]
Writer = Annotated[Principal, Depends(require(P.PLANS_WRITE))]


@router.get("", response_model=list[PromoOut])
async def list_promos(principal: Reader, session: SessionDep) -> list[PromoOut]:
    """This ISP's codes, newest first, with their uses and status."""
    return [PromoOut.model_validate(p) for p in await service.list_promos(session, principal)]


@router.post("", response_model=PromoOut, status_code=201)
async def create_promo(
    body: PromoCreate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PromoOut:
    return PromoOut.model_validate(await service.create_promo(session, principal, body, meta))


@router.get("/{promo_id}", response_model=PromoOut)
async def get_promo(promo_id: IdPath, principal: Reader, session: SessionDep) -> PromoOut:
    return PromoOut.model_validate(await service.get_promo(session, principal, promo_id))


@router.patch("/{promo_id}", response_model=PromoOut)
async def update_promo(
    promo_id: IdPath, body: PromoUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PromoOut:
    promo = await service.update_promo(session, principal, promo_id, body, meta)
    return PromoOut.model_validate(promo)


@router.delete("/{promo_id}", status_code=204)
async def deactivate_promo(
    promo_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    """Deactivates the code; it stays listed (as inactive) for the purchases that used it."""
    await service.deactivate_promo(session, principal, promo_id, meta)
    return Response(status_code=204)
