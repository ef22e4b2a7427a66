"""HTTP routes for zones: an ISP's areas, as a tree. Techs read the zones allocated to them
(and those below); owners and admins draw the map."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.tenancy import Principal, require
from api.zones import service
from api.zones.schemas import ZoneCreate, ZoneOut, ZoneUpdate

router = APIRouter(prefix="/api/v1/zones", tags=["zones"])

Reader = Annotated[Principal, Depends(require(P.NETWORK_READ))]
Writer = Annotated[Principal, Depends(require(P.NETWORK_WRITE))]


@router.get("", response_model=list[ZoneOut])
async def list_zones(principal: Reader, session: SessionDep) -> list[ZoneOut]:
    """Every zone (a tech: theirs and those below), the tree in path order."""
    return [ZoneOut.model_validate(z) for z in await service.list_zones(session, principal)]


@router.post("", response_model=ZoneOut, status_code=201)
async def create_zone(
    body: ZoneCreate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> ZoneOut:
    return ZoneOut.model_validate(await service.create_zone(session, principal, body, meta))


@router.get("/{zone_id}", response_model=ZoneOut)
async def get_zone(zone_id: IdPath, principal: Reader, session: SessionDep) -> ZoneOut:
    return ZoneOut.model_validate(await service.get_zone(session, principal, zone_id))


@router.patch("/{zone_id}", response_model=ZoneOut)
async def update_zone(
    zone_id: IdPath, body: ZoneUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> ZoneOut:
    """Rename, re-centre, re-draw, or move under another zone (everything below it moves with
    it; a move into its own branch is refused)."""
    updated = await service.update_zone(session, principal, zone_id, body, meta)
    return ZoneOut.model_validate(updated)


@router.delete("/{zone_id}", status_code=204)
async def delete_zone(
    zone_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    """Only an empty zone: one still holding zones, routers or subscribers answers 409 naming
    them."""
    await service.delete_zone(session, principal, zone_id, meta)
    return Response(status_code=204)
