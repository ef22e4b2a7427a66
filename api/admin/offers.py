"""The offers page, under Messages: compose an offer with the number of customers it will reach,
send it, and follow each offer's progress (the list refreshes itself while one is on its way);
the ISP's consent counts, its quiet hours, and opting a phone out for a customer who asked.
Changes go through the services the JSON API uses, which audit them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, Forbidden
from api.models import Tenant
from api.offers import service
from api.offers.schemas import BroadcastIn, BroadcastOut, OptOutIn
from api.permissions import P
from api.settings import service as settings
from api.settings.schemas import SettingsUpdate
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Sender = Annotated[Principal, Depends(require_page(P.OFFERS))]
PAGE = "/admin/messages/offers"
HOURS = list(range(24))


def _moving(offers: list[BroadcastOut]) -> bool:
    """Whether an offer is still on its way (the list then asks again every few seconds)."""
    return any(
        o.status == "expanding" or o.progress.queued or o.progress.sending or o.progress.sent
        for o in offers
    )


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, typed: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    offers = await service.recent(session, principal)
    return render(
        request, "offers.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), audience=await service.audience(session, principal),
        counts=await service.consent_counts(session, principal), offers=offers,
        moving=_moving(offers), limits=await settings.get_settings(session, principal),
        can_set_hours=allowed(principal, P.SETTINGS_WRITE), hours=HOURS, typed=typed or {},
    )  # fmt: skip


@router.get("/messages/offers")
async def offers_page(
    request: Request, isp: Isp, principal: Sender, session: SessionDep
) -> Response:
    return await _page(request, isp, principal, session)


@router.get("/messages/offers/list")
async def offers_list(
    request: Request, isp: Isp, principal: Sender, session: SessionDep
) -> Response:
    """The offers and their progress (htmx asks again while one is on its way)."""
    offers = await service.recent(session, principal)
    return render(request, "_offers_list.html", isp, me=principal, offers=offers,
                  moving=_moving(offers))  # fmt: skip


@router.get("/messages/offers/audience")
async def offers_audience(
    request: Request, isp: Isp, principal: Sender, session: SessionDep
) -> Response:
    """How many customers an offer sent now reaches (htmx keeps the compose form's count live)."""
    return render(request, "_offers_audience.html", isp, me=principal,
                  audience=await service.audience(session, principal))  # fmt: skip


@router.post("/messages/offers")
async def send_offer(
    request: Request, isp: Isp, principal: Sender, session: SessionDep, meta: ClientMeta,
    text: Annotated[str, Form(max_length=1200)] = "",
    channels: Annotated[list[str] | None, Form(max_length=2)] = None,
) -> Response:  # fmt: skip
    async def save() -> None:
        body = validated(BroadcastIn, {"text": text, "channels": channels or []})
        await service.send(session, principal, body, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail,
            typed={"text": text, "channels": channels or []},
        )  # fmt: skip

    return await acted(session, save, refused, f"{PAGE}?flash=offer-sent")


@router.post("/messages/offers/opt-out")
async def opt_out(
    request: Request, isp: Isp, principal: Sender, session: SessionDep, meta: ClientMeta,
    phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    async def save() -> None:
        says = {"phone": "Type the phone number with its country code, like +254712345678."}
        body = validated(OptOutIn, {"phone": phone.replace(" ", "")}, says)
        await service.opt_out(session, principal, body.phone, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail,
            typed={"phone": phone},
        )  # fmt: skip

    return await acted(session, save, refused, f"{PAGE}?flash=opted-out")


@router.post("/messages/offers/quiet")
async def quiet_hours(
    request: Request, isp: Isp, principal: Sender, session: SessionDep, meta: ClientMeta,
    quiet_from: Annotated[str, Form(max_length=2)] = "",
    quiet_to: Annotated[str, Form(max_length=2)] = "",
) -> Response:  # fmt: skip
    async def save() -> None:
        if not allowed(principal, P.SETTINGS_WRITE):
            raise Forbidden("Only staff who may change settings set the quiet hours")
        none = quiet_from == "" or quiet_to == ""
        body = validated(SettingsUpdate, {
            "quiet_hours_from": None if none else quiet_from,
            "quiet_hours_to": None if none else quiet_to,
        })  # fmt: skip
        await settings.update_settings(session, principal, body, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )

    return await acted(session, save, refused, f"{PAGE}?flash=settings")
