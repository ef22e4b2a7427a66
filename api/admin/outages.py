"""Announcing an outage or maintenance from the routers page: for the whole ISP (owners and
admins), at one router, or in a zone (its routers and those of every zone below it; a tech only
at their routers and in their zones). Customers online there with a sold voucher are told once
(api.notifications.outages); the captive portal shows it until it is ended here."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.routers import routers_view
from api.admin.web import Isp, acted, first_problem
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError, BadRequest
from api.notifications import outages
from api.notifications.outages import OutageIn
from api.permissions import P
from api.tenancy import Principal

router = APIRouter(prefix="/admin", include_in_schema=False)

Writer = Annotated[Principal, Depends(require_page(P.ROUTERS_WRITE))]
NAIROBI = ZoneInfo("Africa/Nairobi")


def where(place: str) -> dict[str, int | None]:
    """ "isp", "router:7" or "zone:3" (the form's choice) as the API's router_id / zone_id."""
    kind, _, number = place.partition(":")
    if place == "isp":
        return {"router_id": None, "zone_id": None}
    if kind not in ("router", "zone") or not number.isdigit() or not 0 < int(number) < 2**31:
        raise BadRequest("Where: choose the whole network, a router or a zone from the list")
    return {"router_id": int(number) if kind == "router" else None,
            "zone_id": int(number) if kind == "zone" else None}  # fmt: skip


def _until(text: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=NAIROBI)
    except ValueError:
        raise BadRequest("Expected back: a date and time like 2026-01-31 18:00") from None


@router.post("/outages")
async def announce(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    place: Annotated[str, Form(max_length=30)] = "",
    message: Annotated[str, Form(max_length=400)] = "",
    ends_at: Annotated[str, Form(max_length=30)] = "",
) -> Response:  # fmt: skip
    typed = {"place": place, "message": message, "ends_at": ends_at}

    async def tell() -> None:
        try:
            body = OutageIn.model_validate(
                where(place) | {"message": message.strip(), "ends_at": _until(ends_at)}
            )
        except ValidationError as exc:
            raise BadRequest(first_problem(exc).replace("message:", "Message:")) from None
        await outages.announce(session, principal, body, meta)

    async def again(exc: AppError) -> Response:
        return await routers_view(request, isp, principal, session, status=exc.status_code,
                              error=exc.detail, outage_form=typed)  # fmt: skip

    return await acted(session, tell, again, "/admin/routers?flash=outage-announced#outages")


@router.post("/outages/{outage_id}/end")
async def end(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    outage_id: IdPath,
) -> Response:  # fmt: skip
    async def finish() -> None:
        await outages.end(session, principal, outage_id, meta)

    async def again(exc: AppError) -> Response:
        return await routers_view(request, isp, principal, session, status=exc.status_code,
                              error=exc.detail)  # fmt: skip

    return await acted(session, finish, again, "/admin/routers?flash=outage-ended#outages")
