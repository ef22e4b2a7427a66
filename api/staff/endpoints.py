"""HTTP routes for an ISP's staff: who they are, their roles, a tech's routers, deactivation.
The owner rules live in the service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.staff import service
from api.staff.schemas import RoleIn, RoutersIn, StaffOut
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])

Reader = Annotated[Principal, Depends(require(P.STAFF_READ))]
Writer = Annotated[Principal, Depends(require(P.STAFF_WRITE))]


@router.get("", response_model=list[StaffOut])
async def list_staff(principal: Reader, session: SessionDep) -> list[StaffOut]:
    """Every staff member with their role, whether active, and their allocated routers."""
    return await service.list_staff(session, principal)


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


@router.post("/{staff_id}/deactivate", response_model=StaffOut)
async def deactivate(
    staff_id: IdPath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> StaffOut:
    """Signs the person out for good: their next request is refused (401)."""
    return await service.deactivate(session, principal, staff_id, meta)
