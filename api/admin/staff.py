"""The staff page: invitations, roles, a tech's routers, second factors, deactivation, and the
owner's "everyone must use a second factor"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.subscribers import zone_choices
from api.admin.web import (
    Isp,
    acted,
    first_problem,
    form_token,
    render,
)
from api.deps import ClientMeta, DbId, IdPath, SessionDep
from api.errors import AppError, BadRequest
from api.models import Tenant
from api.permissions import P
from api.routers import service as routers
from api.staff import invites
from api.staff import service as staff_service
from api.staff.schemas import InviteIn
from api.tenancy import (
    Principal,
    allowed,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ staff

StaffReader = Annotated[Principal, Depends(require_page(P.STAFF_READ))]
StaffWriter = Annotated[Principal, Depends(require_page(P.STAFF_WRITE))]
PolicyMaker = Annotated[Principal, Depends(require_page(P.STAFF_POLICY))]


async def _staff(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    can_write = allowed(principal, P.STAFF_WRITE)
    return render(
        request, "staff.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), staff=await staff_service.list_staff(session, principal),
        invites=await invites.pending(session, principal) if can_write else [],
        routers=await routers.list_routers(session, principal) if can_write else [],
        zones=await zone_choices(session, principal) if can_write else [],
        policy=await staff_service.policy(session, principal),
        can_write=can_write, can_policy=allowed(principal, P.STAFF_POLICY),
        roles=["owner", "admin", "tech", "support"], form=form or {},
    )  # fmt: skip


@router.get("/staff")
async def staff_page(
    request: Request, isp: Isp, principal: StaffReader, session: SessionDep
) -> Response:
    return await _staff(request, isp, principal, session)


async def _staff_action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    flash: str, form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """A staff change; refused, the page again with why and what was typed."""

    async def again(exc: AppError) -> Response:
        return await _staff(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )

    return await acted(session, action, again, f"/admin/staff?flash={flash}")


@router.post("/staff/invite")
async def invite(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    channel: Annotated[str, Form(max_length=10)] = "email",
    phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    form = {"email": email, "role": role, "channel": channel, "phone": phone}

    async def send() -> None:
        try:
            body = InviteIn.model_validate(
                {"email": email.strip(), "role": role, "channel": channel,
                 "phone": phone.strip() or None}
            )  # fmt: skip
        except ValidationError as exc:
            raise BadRequest(first_problem(exc)) from None
        await invites.invite(session, principal, body, request.url.scheme, meta)

    return await _staff_action(request, isp, principal, session, send, "invited", form)


@router.post("/staff/invites/{invite_id}/withdraw")
async def withdraw_invite(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    invite_id: IdPath,
) -> Response:  # fmt: skip
    async def withdraw() -> None:
        await invites.withdraw(session, principal, invite_id, meta)

    return await _staff_action(request, isp, principal, session, withdraw, "withdrawn")


@router.post("/staff/policy")
async def set_policy(
    request: Request, isp: Isp, principal: PolicyMaker, session: SessionDep, meta: ClientMeta,
    require_second_factor: Annotated[str, Form(max_length=5)] = "",
) -> Response:  # fmt: skip
    async def save() -> None:
        on = require_second_factor == "true"
        await staff_service.set_policy(session, principal, on, meta)

    return await _staff_action(request, isp, principal, session, save, "policy")


@router.post("/staff/{staff_id}/role")
async def change_role(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath, role: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    async def change() -> None:
        await staff_service.change_role(session, principal, staff_id, role, meta)

    return await _staff_action(request, isp, principal, session, change, "staff")


@router.post("/staff/{staff_id}/routers")
async def set_routers(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath, router_ids: Annotated[list[DbId], Form(max_length=1000)] = [],  # noqa: B006
) -> Response:  # fmt: skip
    async def save() -> None:
        await staff_service.set_routers(session, principal, staff_id, router_ids, meta)

    return await _staff_action(request, isp, principal, session, save, "staff")


@router.post("/staff/{staff_id}/zones")
async def set_zones(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath, zone_ids: Annotated[list[DbId], Form(max_length=1000)] = [],  # noqa: B006
) -> Response:  # fmt: skip
    """A tech's zones: they then see the routers and subscribers of those zones and below."""

    async def save() -> None:
        await staff_service.set_zones(session, principal, staff_id, zone_ids, meta)

    return await _staff_action(request, isp, principal, session, save, "staff")


@router.post("/staff/{staff_id}/second-factor/reset")
async def reset_second_factor(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath,
) -> Response:  # fmt: skip
    async def reset_it() -> None:
        await staff_service.reset_second_factor(session, principal, staff_id, meta)

    return await _staff_action(request, isp, principal, session, reset_it, "staff")


@router.post("/staff/{staff_id}/deactivate")
async def deactivate(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath,
) -> Response:  # fmt: skip
    async def off() -> None:
        await staff_service.deactivate(session, principal, staff_id, meta)

    return await _staff_action(request, isp, principal, session, off, "staff")
