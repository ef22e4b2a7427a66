"""The routers page: health, adding (secret shown once, script one click away), changing,
removing; a tech sees only allocated routers."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.admin.guard import require_page
from api.admin.subscribers import zone_choices
from api.admin.web import (
    Isp,
    form_token,
    render,
    validated,
)
from api.db import roll_back
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.notifications import outages
from api.permissions import P
from api.routers import health as router_health
from api.routers import service as routers
from api.routers.schemas import RouterCreate, RouterUpdate
from api.tenancy import (
    Principal,
    allowed,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ routers

RouterReader = Annotated[Principal, Depends(require_page(P.ROUTERS_READ))]
RouterWriter = Annotated[Principal, Depends(require_page(P.ROUTERS_WRITE))]
RouterManager = Annotated[Principal, Depends(require_page(P.ROUTERS_MANAGE))]


async def routers_view(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    created: Any = None, outage_form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    """A tech sees only the routers allocated to them (the services' router scope), and the
    outages of the ISP, of their routers and of their zones."""
    listed = await router_health.list_health(session, principal)
    zones = [(z, label.strip()) for z, label in await zone_choices(session, principal)]
    can_write = allowed(principal, P.ROUTERS_WRITE)
    return render(
        request, "routers.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), routers=listed, can_write=can_write,
        can_manage=allowed(principal, P.ROUTERS_MANAGE), form=form or {}, created=created,
        outages=await outages.recent(session, principal), zones=zones,
        names={"router": {r.id: r.name for r in listed}, "zone": dict(zones)},
        outage_form=outage_form or {}, now_ts=time.time(),
    )  # fmt: skip


@router.get("/routers")
async def routers_page(
    request: Request, isp: Isp, principal: RouterReader, session: SessionDep
) -> Response:
    return await routers_view(request, isp, principal, session)


@router.post("/routers")
async def add_router(
    request: Request, isp: Isp, principal: RouterManager, session: SessionDep, meta: ClientMeta,
    name: Annotated[str, Form(max_length=100)] = "",
    ip_address: Annotated[str, Form(max_length=64)] = "",
) -> Response:  # fmt: skip
    """Its secret is generated and shown in this answer only."""
    form = {"name": name, "ip_address": ip_address}
    try:
        body = validated(RouterCreate, form)
        created = await routers.create_router(session, principal, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await routers_view(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )
    return await routers_view(request, isp, principal, session, status=201, created=created)


@router.post("/routers/{router_id}")
async def update_router(
    request: Request, isp: Isp, principal: RouterWriter, session: SessionDep, meta: ClientMeta,
    router_id: IdPath, name: Annotated[str, Form(max_length=100)] = "",
    ip_address: Annotated[str, Form(max_length=64)] = "",
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:  # fmt: skip
    try:
        await routers.get_router(session, principal, router_id)  # not theirs: 404 first
        values: dict[str, Any] = {"enabled": enabled == "true"}
        values |= {k: v for k, v in (("name", name), ("ip_address", ip_address)) if v.strip()}
        body = validated(RouterUpdate, values)
        await routers.update_router(session, principal, router_id, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await routers_view(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/routers?flash=router-saved", status_code=303)


@router.post("/routers/{router_id}/delete")
async def remove_router(
    request: Request, isp: Isp, principal: RouterManager, session: SessionDep, meta: ClientMeta,
    router_id: IdPath,
) -> Response:  # fmt: skip
    try:
        await routers.delete_router(session, principal, router_id, meta)
    except AppError as exc:
        await roll_back(session)
        return await routers_view(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/routers?flash=router-removed", status_code=303)
