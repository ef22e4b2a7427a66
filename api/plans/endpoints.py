from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.plans import service
from api.plans.schemas import PlanCreate, PlanOut, PlanUpdate
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/plans", tags=["plans"])

Reader = Annotated[Principal, Depends(require(P.PLANS_READ))]
Writer = Annotated[Principal, Depends(require(P.PLANS_WRITE))]


@router.get("", response_model=list[PlanOut])
async def list_plans(principal: Reader, session: SessionDep) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await service.list_plans(session, principal)]


@router.post("", response_model=PlanOut, status_code=201)
async def create_plan(
    body: PlanCreate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PlanOut:
    return PlanOut.model_validate(await service.create_plan(session, principal, body, meta))


@router.get("/{plan_id}", response_model=PlanOut)
async def get_plan(plan_id: IdPath, principal: Reader, session: SessionDep) -> PlanOut:
    return PlanOut.model_validate(await service.get_plan(session, principal, plan_id))


@router.patch("/{plan_id}", response_model=PlanOut)
async def update_plan(
    plan_id: IdPath, body: PlanUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PlanOut:
    plan = await service.update_plan(session, principal, plan_id, body, meta)
    return PlanOut.model_validate(plan)


@router.delete("/{plan_id}", status_code=204)
async def delete_plan(
    plan_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    await service.delete_plan(session, principal, plan_id, meta)
    return Response(status_code=204)
