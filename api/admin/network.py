"""The IP pools and monthly plans page: what static subscribers' fixed addresses come from and
what subscribers pay for. Owners and admins add, rename (a pool's network and a plan's rates
stay as they were: no subscriber's address or speed changes behind their back), re-price,
stop offering and delete one nobody uses (the API's refusal otherwise, as a sentence); techs
and support read them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError, BadRequest
from api.models import Tenant
from api.permissions import P
from api.plans.units import parse_rate, parse_size
from api.subscribers import catalogue
from api.subscribers.schemas import PlanCreate, PlanUpdate, PoolCreate, PoolUpdate
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.NETWORK_READ))]
Writer = Annotated[Principal, Depends(require_page(P.NETWORK_WRITE))]
Field = Annotated[str, Form(max_length=100)]
LABELS = {
    "name": "Name", "cidr": "Network", "price": "Price a month", "upload_kbps": "Upload",
    "download_kbps": "Download", "burst_upload_kbps": "Burst upload",
    "burst_download_kbps": "Burst download", "burst_seconds": "Burst seconds",
    "data_cap_bytes": "Data a month",
}  # fmt: skip


def _valid(model: Any, values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = str(error["loc"][0]) if error["loc"] else ""
        said = str(error["msg"]).removeprefix("Value error, ")
        raise BadRequest(f"{LABELS.get(where, 'Plan')}: {said}") from None


def _amount(text: str, parse: Any, label: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(parse(text))
    except ValueError as exc:
        raise BadRequest(f"{label}: {exc}") from None


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: Any, *, status: int = 200,
    error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    return render(
        request, "network.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), pools=await catalogue.list_pools(session, principal),
        plans=await catalogue.list_plans(session, principal), form=form or {},
        can_write=allowed(principal, P.NETWORK_WRITE),
    )  # fmt: skip


@router.get("/network")
async def network_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _page(request, isp, principal, session)


async def _action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    flash: str, form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )

    return await acted(session, action, again, f"/admin/network?flash={flash}")


@router.post("/network/pools")
async def create_pool(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    name: Field = "", cidr: Field = "",
) -> Response:  # fmt: skip
    async def create() -> None:
        body = _valid(PoolCreate, {"name": name, "cidr": cidr})
        await catalogue.create_pool(session, principal, body, meta)

    form = {"pool_name": name, "cidr": cidr}
    return await _action(request, isp, principal, session, create, "network-saved", form)


@router.post("/network/pools/{pool_id}")
async def rename_pool(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    pool_id: IdPath, name: Field = "",
) -> Response:  # fmt: skip
    async def rename() -> None:
        await catalogue.get_pool(session, principal, pool_id)  # another ISP's: 404 first
        await catalogue.update_pool(session, principal, pool_id, _valid(PoolUpdate, {"name": name}),
                                    meta)  # fmt: skip

    return await _action(request, isp, principal, session, rename, "network-saved")


@router.post("/network/pools/{pool_id}/delete")
async def delete_pool(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    pool_id: IdPath,
) -> Response:  # fmt: skip
    async def remove() -> None:
        await catalogue.delete_pool(session, principal, pool_id, meta)

    return await _action(request, isp, principal, session, remove, "network-removed")


def _plan(form: dict[str, str]) -> dict[str, Any]:
    """A plan's fields from what people write: "10M", "512k", "50GB"."""
    burst = (form["burst_download"], form["burst_upload"], form["burst_seconds"])
    return {
        "name": form["name"], "price": form["price"].strip() or None,
        "download_kbps": _amount(form["download"], parse_rate, "Download"),
        "upload_kbps": _amount(form["upload"], parse_rate, "Upload"),
        "burst_download_kbps": _amount(burst[0], parse_rate, "Burst download"),
        "burst_upload_kbps": _amount(burst[1], parse_rate, "Burst upload"),
        "burst_seconds": burst[2].strip() or None,
        "data_cap_bytes": _amount(form["data_cap"], parse_size, "Data a month"),
    }  # fmt: skip


@router.post("/network/plans")
async def create_plan(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    name: Field = "", price: Field = "", download: Field = "", upload: Field = "",
    burst_download: Field = "", burst_upload: Field = "", burst_seconds: Field = "",
    data_cap: Field = "",
) -> Response:  # fmt: skip
    form = {"name": name, "price": price, "download": download, "upload": upload,
            "burst_download": burst_download, "burst_upload": burst_upload,
            "burst_seconds": burst_seconds, "data_cap": data_cap}  # fmt: skip

    async def create() -> None:
        values = _plan(form)
        for key, label in (("download_kbps", "Download"), ("upload_kbps", "Upload")):
            if values[key] is None:
                raise BadRequest(f"{label}: enter a speed like 10M or 512k")
        await catalogue.create_plan(session, principal, _valid(PlanCreate, values), meta)

    return await _action(request, isp, principal, session, create, "network-saved", form)


@router.post("/network/plans/{subscriber_plan_id}")
async def update_plan(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_plan_id: IdPath, name: Field = "", price: Field = "",
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:  # fmt: skip
    """Its name, its price and whether new subscribers may be put on it."""

    async def change() -> None:
        await catalogue.get_plan(session, principal, subscriber_plan_id)  # 404 first
        if not price.strip():
            raise BadRequest("Price a month: enter it in shillings")
        body = _valid(PlanUpdate, {"name": name, "price": price or None,
                                   "active": active == "true"})  # fmt: skip
        await catalogue.update_plan(session, principal, subscriber_plan_id, body, meta)

    return await _action(request, isp, principal, session, change, "network-saved")


@router.post("/network/plans/{subscriber_plan_id}/delete")
async def delete_plan(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_plan_id: IdPath,
) -> Response:  # fmt: skip
    async def remove() -> None:
        await catalogue.delete_plan(session, principal, subscriber_plan_id, meta)

    return await _action(request, isp, principal, session, remove, "network-removed")
