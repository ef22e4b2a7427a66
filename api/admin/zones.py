"""The zones page: the ISP's areas as an indented tree (each branch folds away on a phone), and
for owners and admins adding a zone, renaming, moving it under another (its branch comes with
it), its centre point and its outline pasted as GeoJSON (checked by the API), and deleting an
empty one (one still holding zones, routers or subscribers is refused with a sentence naming
them). A tech sees their zones and those below, to read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError, BadRequest
from api.models import Tenant, Zone
from api.permissions import P
from api.tenancy import Principal, allowed
from api.zones import service as zones
from api.zones.schemas import MAX_BYTES, ZoneCreate, ZoneUpdate

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.NETWORK_READ))]
Writer = Annotated[Principal, Depends(require_page(P.NETWORK_WRITE))]
Text = Annotated[str, Form(max_length=200)]
Outline = Annotated[str, Form(max_length=MAX_BYTES)]
SAYS = {
    "name": "Name: 1 to 100 characters",
    "latitude": "Latitude: a number from -90 to 90, e.g. -1.2921",
    "longitude": "Longitude: a number from -180 to 180, e.g. 36.8219",
}


@dataclass
class Branch:
    zone: Zone
    children: list[Branch] = field(default_factory=list)


def tree(found: list[Zone]) -> list[Branch]:
    """The zones (in path order) as branches; a zone whose parent is not shown (a tech's top
    zone) is a root."""
    branches = {z.id: Branch(z) for z in found}
    roots: list[Branch] = []
    for z in found:
        parent = branches.get(z.parent_id) if z.parent_id is not None else None
        (parent.children if parent else roots).append(branches[z.id])
    return roots


async def _zones(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    found = list(await zones.list_zones(session, principal))
    top = min((len(z.path) for z in found), default=1)
    return render(
        request, "zones.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), tree=tree(found), form=form or {},
        choices=[(z.id, "\u00a0\u00a0" * (len(z.path) - top) + z.name) for z in found],
        can_write=allowed(principal, P.NETWORK_WRITE),
    )  # fmt: skip


@router.get("/zones")
async def zones_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _zones(request, isp, principal, session)


def outline(text: str) -> dict[str, Any] | None:
    """The pasted GeoJSON: a Polygon, or a Feature (or a collection of one) holding one, as
    geojson.io and QGIS export it; empty, none."""
    if not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Outline: not GeoJSON text ({exc.msg} at line {exc.lineno})") from None
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        features = value.get("features") or []
        if len(features) != 1:
            raise BadRequest("Outline: paste one polygon (this collection holds "
                             f"{len(features)} features)")  # fmt: skip
        value = features[0]
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict):
        raise BadRequest('Outline: a GeoJSON object with "type": "Polygon"')
    return value


def _valid(model: Any, values: dict[str, Any]) -> Any:
    """`values` as `model`, or a sentence on the first wrong field (the outline's own check says
    which ring and position)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = str(error["loc"][0]) if error["loc"] else ""
        said = str(error["msg"]).removeprefix("Value error, ")
        raise BadRequest(SAYS.get(where) or f"{where.capitalize() or 'Zone'}: {said}") from None


def _fields(name: str, parent_id: str, latitude: str, longitude: str, shape: str) -> dict:
    out: dict[str, Any] = {"name": name.strip()}
    if parent_id.strip() and not parent_id.strip().isdigit():
        raise BadRequest("Inside: choose a zone from the list")
    out["parent_id"] = int(parent_id) if parent_id.strip() else None
    for key, text in (("latitude", latitude), ("longitude", longitude)):
        out[key] = text.strip() or None
    out["outline"] = outline(shape)
    return out


async def _action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    flash: str, form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _zones(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )

    return await acted(session, action, again, f"/admin/zones?flash={flash}")


@router.post("/zones")
async def create_zone(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    name: Text = "", parent_id: Text = "", latitude: Text = "", longitude: Text = "",
    outline_text: Annotated[str, Form(alias="outline", max_length=MAX_BYTES)] = "",
) -> Response:  # fmt: skip
    form = {"name": name, "parent_id": parent_id, "latitude": latitude, "longitude": longitude,
            "outline": outline_text}  # fmt: skip

    async def create() -> None:
        values = _fields(name, parent_id, latitude, longitude, outline_text)
        await zones.create_zone(session, principal, _valid(ZoneCreate, values), meta)

    return await _action(request, isp, principal, session, create, "zone-saved", form)


@router.post("/zones/{zone_id}")
async def update_zone(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    zone_id: IdPath, name: Text = "", parent_id: Text = "", latitude: Text = "",
    longitude: Text = "",
    outline_text: Annotated[str, Form(alias="outline", max_length=MAX_BYTES)] = "",
) -> Response:  # fmt: skip
    """Rename, move (parent), re-centre, re-draw: the form shows what the zone has, so what a
    person leaves alone stays as it was."""

    async def change() -> None:
        await zones.get_zone(session, principal, zone_id)  # another ISP's: 404 first
        values = _fields(name, parent_id, latitude, longitude, outline_text)
        body = _valid(ZoneUpdate, values)
        await zones.update_zone(session, principal, zone_id, body, meta)

    return await _action(request, isp, principal, session, change, "zone-saved")


@router.post("/zones/{zone_id}/delete")
async def delete_zone(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    zone_id: IdPath,
) -> Response:  # fmt: skip
    async def remove() -> None:
        await zones.delete_zone(session, principal, zone_id, meta)

    return await _action(request, isp, principal, session, remove, "zone-removed")
