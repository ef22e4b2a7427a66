"""HTTP routes for an ISP's staff: who they are, invitations, their roles, a tech's routers,
deactivation, the ISP's sign-in policy; and the ISP's API tokens for integrations. The owner
rules live in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.staff import invites, service
from api.staff.schemas import (
    AcceptIn,
    AcceptOut,
    InviteIn,
    InviteOut,
    NewTokenOut,
    PolicyIn,
    PolicyOut,
    RoleIn,
    RoutersIn,
    StaffOut,
    TokenIn,
    TokenInfo,
)
from api.tenancy import Principal, public, require, subdomain_slug
from api.zones.schemas import ZonesIn

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

Reader = Annotated[Principal, Depends(require(P.STAFF_READ))]
Writer = Annotated[Principal, Depends(require(P.STAFF_WRITE))]
PolicyMaker = Annotated[Principal, Depends(require(P.STAFF_POLICY))]
TokenKeeper = Annotated[Principal, Depends(require(P.TOKENS))]


@router.get("", response_model=list[StaffOut])
async def list_staff(principal: Reader, session: SessionDep) -> list[StaffOut]:
    """Every staff member with their role, whether active, and their allocated routers."""
    return await service.list_staff(session, principal)


@router.get("/invites", response_model=list[InviteOut])
async def list_invites(principal: Reader, session: SessionDep) -> list[InviteOut]:
    """Invitations not yet accepted, withdrawn or expired."""
    return await invites.pending(session, principal)


@router.post("/invites", response_model=InviteOut, status_code=201)
async def invite(
    body: InviteIn, principal: Writer, session: SessionDep, request: Request, meta: ClientMeta
) -> InviteOut:
    """Sends a one-time link (48 h) by e-mail or SMS; following it, the person chooses a
    password and joins with this role (and, a tech, these routers)."""
    return await invites.invite(session, principal, body, request.url.scheme, meta)


@router.post(
    "/invites/accept",
    response_model=AcceptOut,
    status_code=201,
    dependencies=[Depends(public("following an invitation: the link is the credential"))],
)
async def accept_invite(body: AcceptIn, request: Request, meta: ClientMeta) -> AcceptOut:
    """Joins the ISP with the password chosen; then sign in as usual. An unknown, used or
    expired link answers 404."""
    return await invites.accept(body.token, body.password, subdomain_slug(request), meta)


@router.delete("/invites/{invite_id}", status_code=204)
async def withdraw_invite(
    invite_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    """The link stops working."""
    await invites.withdraw(session, principal, invite_id, meta)
    return Response(status_code=204)


@router.get("/policy", response_model=PolicyOut)
async def policy(principal: Reader, session: SessionDep) -> PolicyOut:
    return await service.policy(session, principal)


@router.put("/policy", response_model=PolicyOut)
async def set_policy(
    body: PolicyIn, principal: PolicyMaker, session: SessionDep, meta: ClientMeta
) -> PolicyOut:
    """Owners only: require a second factor of every staff member (those without one are
    signed out, and their next login may only set one up)."""
    return await service.set_policy(session, principal, body.require_second_factor, meta)


@router.put("/{staff_id}/role", response_model=StaffOut)
async def change_role(
    staff_id: IdPath, body: RoleIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """Only an owner changes an owner or makes one; the last active owner cannot be demoted."""
    return await service.change_role(session, principal, staff_id, body.role, meta)


@router.put("/{staff_id}/routers", response_model=StaffOut)
async def set_routers(
    staff_id: IdPath, body: RoutersIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """The tech's routers from now on; they see nothing else of the ISP's network."""
    return await service.set_routers(session, principal, staff_id, body.router_ids, meta)


@router.put("/{staff_id}/zones", response_model=StaffOut)
async def set_zones(
    staff_id: IdPath, body: ZonesIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """The tech's zones from now on (with every zone below them); their routers allocated one
    by one stay theirs too."""
    return await service.set_zones(session, principal, staff_id, body.zone_ids, meta)


@router.post("/{staff_id}/second-factor/reset", response_model=StaffOut)
async def reset_second_factor(
    staff_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """Removes the person's second factor (lost phone and recovery codes) and signs them out;
    they set up a new one at their next login."""
    return await service.reset_second_factor(session, principal, staff_id, meta)


@router.post("/{staff_id}/deactivate", response_model=StaffOut)
async def deactivate(
    staff_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """Signs the person out for good: their next request is refused (401)."""
    return await service.deactivate(session, principal, staff_id, meta)


tokens_router = APIRouter(prefix="/api/v1/tokens", tags=["API tokens"])


@tokens_router.get("", response_model=list[TokenInfo])
async def list_tokens(principal: TokenKeeper, session: SessionDep) -> list[TokenInfo]:
    """The ISP's API tokens, live ones first, with their last use."""
    return await service.tokens(session, principal)


@tokens_router.post("", response_model=NewTokenOut, status_code=201)
async def create_token(
    body: TokenIn, principal: TokenKeeper, session: SessionDep, meta: ClientMeta
) -> NewTokenOut:
    """A token for an integration, with the permissions chosen (never more than your role's);
    the token itself is in this answer only."""
    return await service.create_token(session, principal, body.name, list(body.permissions), meta)


@tokens_router.delete("/{token_id}", response_model=TokenInfo)
async def revoke_token(
    token_id: IdPath, principal: TokenKeeper, session: SessionDep, meta: ClientMeta
) -> TokenInfo:
    """The token stops working at once."""
    return await service.revoke_token(session, principal, token_id, meta)
