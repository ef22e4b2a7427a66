from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.routers import service
from api.routers.schemas import RouterCreate, RouterOut, RouterUpdate, RouterWithSecret
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/routers", tags=["routers"])

Reader = Annotated[Principal, Depends(require(P.ROUTERS_READ))]
Writer = Annotated[Principal, Depends(require(P.ROUTERS_WRITE))]
# Adding and removing routers is the ISP's decision, not a tech's (they work on allocated ones).
Manager = Annotated[Principal, Depends(require(P.ROUTERS_MANAGE))]


@router.get("", response_model=list[RouterOut])
async def list_routers(principal: Reader, session: SessionDep) -> list[RouterOut]:
    routers = await service.list_routers(session, principal)
    return [RouterOut.model_validate(r) for r in routers]


@router.post("", response_model=RouterWithSecret, status_code=201)
async def create_router(
    body: RouterCreate, principal: Manager, session: SessionDep, meta: ClientMeta
) -> RouterWithSecret:
    created = await service.create_router(session, principal, body, meta)
    return RouterWithSecret.model_validate(created)


@router.get("/{router_id}", response_model=RouterOut)
async def get_router(router_id: IdPath, principal: Reader, session: SessionDep) -> RouterOut:
    return RouterOut.model_validate(await service.get_router(session, principal, router_id))


@router.patch("/{router_id}", response_model=RouterWithSecret | RouterOut)
async def update_router(
    router_id: IdPath, body: RouterUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> RouterWithSecret | RouterOut:
    updated, secret_changed = await service.update_router(session, principal, router_id, body, meta)
    if secret_changed:
        return RouterWithSecret.model_validate(updated)
    return RouterOut.model_validate(updated)


@router.delete("/{router_id}", status_code=204)
async def delete_router(
    router_id: IdPath, principal: Manager, session: SessionDep, meta: ClientMeta
) -> Response:
    await service.delete_router(session, principal, router_id, meta)
    return Response(status_code=204)
