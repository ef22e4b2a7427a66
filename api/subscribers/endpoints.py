"""HTTP routes for subscribers (PPPoE and static), their monthly plans and the ISP's IP pools.
A tech reads and changes only the subscribers of their zones (and of their routers); owners and
admins everyone."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.subscribers import catalogue, service
from api.subscribers.schemas import (
    PlanCreate,
    PlanOut,
    PlanUpdate,
    PoolCreate,
    PoolOut,
    PoolUpdate,
    SubscriberCreate,
    SubscriberOut,
    SubscriberUpdate,
    SubscriberWithPassword,
)
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/subscribers", tags=["subscribers"])
plans_router = APIRouter(prefix="/api/v1/subscriber-plans", tags=["subscribers"])
pools_router = APIRouter(prefix="/api/v1/ip-pools", tags=["subscribers"])

Reader = Annotated[Principal, Depends(require(P.SUBSCRIBERS_READ))]
Writer = Annotated[Principal, Depends(require(P.SUBSCRIBERS_WRITE))]
NetworkReader = Annotated[Principal, Depends(require(P.NETWORK_READ))]
NetworkWriter = Annotated[Principal, Depends(require(P.NETWORK_WRITE))]


@router.get("", response_model=list[SubscriberOut])
async def list_subscribers(
    principal: Reader,
    session: SessionDep,
    zone_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    status: Literal["active", "suspended"] | None = None,
    after_id: Annotated[int, Query(ge=0, le=2**63 - 1, description="Paging: ids above")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SubscriberOut]:
    found = await service.list_subscribers(session, principal, zone_id=zone_id, status=status,
                                           after_id=after_id, limit=limit)  # fmt: skip
    return [SubscriberOut.model_validate(s) for s in found]


@router.post("", response_model=SubscriberWithPassword | SubscriberOut, status_code=201)
async def create_subscriber(
    body: SubscriberCreate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> SubscriberWithPassword | SubscriberOut:
    """A PPPoE or static client. Without a password one is generated and shown once."""
    created, generated = await service.create_subscriber(session, principal, body, meta)
    if generated is not None:
        out = SubscriberOut.model_validate(created).model_dump()
        return SubscriberWithPassword(**out, password=generated)
    return SubscriberOut.model_validate(created)


@router.get("/{subscriber_id}", response_model=SubscriberOut)
async def get_subscriber(
    subscriber_id: IdPath, principal: Reader, session: SessionDep
) -> SubscriberOut:
    return SubscriberOut.model_validate(
        await service.get_subscriber(session, principal, subscriber_id)
    )


@router.patch("/{subscriber_id}", response_model=SubscriberOut)
async def update_subscriber(
    subscriber_id: IdPath, body: SubscriberUpdate, principal: Writer, session: SessionDep,
    meta: ClientMeta,
) -> SubscriberOut:  # fmt: skip
    """Any field, a new password, or {"status": "suspended"} / {"status": "active"} (audited
    as a suspension or a resumption). A suspended subscriber is refused at its next login."""
    updated = await service.update_subscriber(session, principal, subscriber_id, body, meta)
    return SubscriberOut.model_validate(updated)


@router.post("/{subscriber_id}/unblock", response_model=SubscriberOut)
async def unblock_subscriber(
    subscriber_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> SubscriberOut:
    """Ends a block for too many wrong PPPoE passwords (login_blocked_until), on every device.
    A new password ends it too."""
    updated = await service.unblock_subscriber(session, principal, subscriber_id, meta)
    return SubscriberOut.model_validate(updated)


@router.delete("/{subscriber_id}", status_code=204)
async def delete_subscriber(
    subscriber_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    await service.delete_subscriber(session, principal, subscriber_id, meta)
    return Response(status_code=204)


@plans_router.get("", response_model=list[PlanOut])
async def list_plans(principal: NetworkReader, session: SessionDep) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await catalogue.list_plans(session, principal)]


@plans_router.post("", response_model=PlanOut, status_code=201)
async def create_plan(
    body: PlanCreate, principal: NetworkWriter, session: SessionDep, meta: ClientMeta
) -> PlanOut:
    return PlanOut.model_validate(await catalogue.create_plan(session, principal, body, meta))


@plans_router.get("/{subscriber_plan_id}", response_model=PlanOut)
async def get_plan(
    subscriber_plan_id: IdPath, principal: NetworkReader, session: SessionDep
) -> PlanOut:
    return PlanOut.model_validate(await catalogue.get_plan(session, principal, subscriber_plan_id))


@plans_router.patch("/{subscriber_plan_id}", response_model=PlanOut)
async def update_plan(
    subscriber_plan_id: IdPath, body: PlanUpdate, principal: NetworkWriter, session: SessionDep,
    meta: ClientMeta,
) -> PlanOut:  # fmt: skip
    updated = await catalogue.update_plan(session, principal, subscriber_plan_id, body, meta)
    return PlanOut.model_validate(updated)


@plans_router.delete("/{subscriber_plan_id}", status_code=204)
async def delete_plan(
    subscriber_plan_id: IdPath, principal: NetworkWriter, session: SessionDep, meta: ClientMeta
) -> Response:
    """Only a plan no subscriber is on (409 otherwise)."""
    await catalogue.delete_plan(session, principal, subscriber_plan_id, meta)
    return Response(status_code=204)


@pools_router.get("", response_model=list[PoolOut])
async def list_pools(principal: NetworkReader, session: SessionDep) -> list[PoolOut]:
    return [PoolOut.model_validate(p) for p in await catalogue.list_pools(session, principal)]


@pools_router.post("", response_model=PoolOut, status_code=201)
async def create_pool(
    body: PoolCreate, principal: NetworkWriter, session: SessionDep, meta: ClientMeta
) -> PoolOut:
    return PoolOut.model_validate(await catalogue.create_pool(session, principal, body, meta))


@pools_router.get("/{pool_id}", response_model=PoolOut)
async def get_pool(pool_id: IdPath, principal: NetworkReader, session: SessionDep) -> PoolOut:
    return PoolOut.model_validate(await catalogue.get_pool(session, principal, pool_id))


@pools_router.patch("/{pool_id}", response_model=PoolOut)
async def update_pool(
    pool_id: IdPath, body: PoolUpdate, principal: NetworkWriter, session: SessionDep,
    meta: ClientMeta,
) -> PoolOut:  # fmt: skip
    updated = await catalogue.update_pool(session, principal, pool_id, body, meta)
    return PoolOut.model_validate(updated)


@pools_router.delete("/{pool_id}", status_code=204)
async def delete_pool(
    pool_id: IdPath, principal: NetworkWriter, session: SessionDep, meta: ClientMeta
) -> Response:
    """Only a pool no subscriber has an address in (409 otherwise)."""
    await catalogue.delete_pool(session, principal, pool_id, meta)
    return Response(status_code=204)
