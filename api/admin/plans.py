"""The packages page: what the ISP sells. Create (durations and speeds as people write them:
"1h", "2M"), change a price, retire one (vouchers already sold keep their terms) or sell it
again."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError, BadRequest
from api.models import Tenant
from api.permissions import P
from api.plans import service as plans
from api.plans.schemas import PlanCreate, PlanOut, PlanUpdate
from api.plans.units import parse_duration, parse_rate
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.PLANS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.PLANS_WRITE))]
Field = Annotated[str, Form(max_length=100)]


async def _plans(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    listed = [PlanOut.model_validate(p) for p in await plans.list_plans(session, principal)]
    return render(
        request, "plans.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), plans=listed, can_write=allowed(principal, P.PLANS_WRITE),
        form=form or {},
    )  # fmt: skip


@router.get("/plans")
async def plans_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _plans(request, isp, principal, session)


async def _action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async def checked() -> None:
        try:
            await action()
        except ValueError as exc:  # a duration or a speed people can't have meant
            raise BadRequest(str(exc)) from None

    async def again(exc: AppError) -> Response:
        return await _plans(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )

    return await acted(session, checked, again, "/admin/plans?flash=plan-saved")


@router.post("/plans")
async def create_plan(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    name: Field = "", price: Field = "", duration: Field = "", download: Field = "",
    upload: Field = "", device_limit: Field = "",
) -> Response:  # fmt: skip
    form = {"name": name, "price": price, "duration": duration, "download": download,
            "upload": upload, "device_limit": device_limit}  # fmt: skip

    async def create() -> None:
        body = validated(PlanCreate, {
            "name": name.strip(), "price": price, "duration_seconds": parse_duration(duration),
            "download_kbps": parse_rate(download), "upload_kbps": parse_rate(upload),
            "device_limit": device_limit or 1,
        })  # fmt: skip
        await plans.create_plan(session, principal, body, meta)

    return await _action(request, isp, principal, session, create, form)


@router.post("/plans/{plan_id}")
async def change_price(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    plan_id: IdPath, price: Field = "",
) -> Response:  # fmt: skip
    async def change() -> None:
        await plans.get_plan(session, principal, plan_id)  # another ISP's: 404 first
        if not price.strip():
            raise BadRequest("Enter the price in shillings")
        await plans.update_plan(
            session, principal, plan_id, validated(PlanUpdate, {"price": price}), meta
        )

    return await _action(request, isp, principal, session, change)


@router.post("/plans/{plan_id}/retire")
@router.post("/plans/{plan_id}/restore")
async def retire_or_restore(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    plan_id: IdPath,
) -> Response:  # fmt: skip
    active = request.url.path.endswith("/restore")

    async def switch() -> None:
        body = PlanUpdate(active=active)
        await plans.update_plan(session, principal, plan_id, body, meta)

    return await _action(request, isp, principal, session, switch)
