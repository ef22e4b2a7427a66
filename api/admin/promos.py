"""The promo codes page (plans:read; changes plans:write), and below it the fair-usage rules
(settings:read; changes settings:write): create, stop or retire, each asking once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.permissions import P
from api.plans import service as plans
from api.promos import service as promos
from api.promos.schemas import PromoCreate
from api.sessions import fairuse
from api.sessions.schemas import RuleIn
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.PLANS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.PLANS_WRITE))]
RuleWriter = Annotated[Principal, Depends(require_page(P.SETTINGS_WRITE))]
Field = Annotated[str, Form(max_length=100)]


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    rule_form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    see_rules = allowed(principal, P.SETTINGS_READ)
    return render(
        request, "promos.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), promos=await promos.list_promos(session, principal),
        plans=await plans.list_plans(session, principal),
        rules=await fairuse.list_rules(session, principal) if see_rules else None,
        can_write=allowed(principal, P.PLANS_WRITE),
        can_rules=allowed(principal, P.SETTINGS_WRITE), form=form or {},
        rule_form=rule_form or {},
    )  # fmt: skip


@router.get("/promos")
async def promos_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _page(request, isp, principal, session)


async def _act(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    **shown: Any,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, **shown
        )

    return await acted(session, action, again, "/admin/promos?flash=offer-saved")


@router.post("/promos")
async def create_promo(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    code: Field = "", kind: Field = "", value: Field = "", max_uses: Field = "",
    plan_id: Field = "",
) -> Response:  # fmt: skip
    form = {"code": code, "kind": kind, "value": value, "max_uses": max_uses}

    async def create() -> None:
        values = {"code": code, "kind": kind, "value": value}
        values |= {k: v for k, v in (("max_uses", max_uses), ("plan_id", plan_id)) if v.strip()}
        await promos.create_promo(session, principal, validated(PromoCreate, values), meta)

    return await _act(request, isp, principal, session, create, form=form)


@router.post("/promos/{promo_id}/stop")
async def stop_promo(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    promo_id: IdPath,
) -> Response:  # fmt: skip
    async def stop() -> None:
        await promos.deactivate_promo(session, principal, promo_id, meta)

    return await _act(request, isp, principal, session, stop)


@router.post("/fair-usage")
async def create_rule(
    request: Request, isp: Isp, principal: RuleWriter, session: SessionDep, meta: ClientMeta,
    scope: Field = "", threshold: Field = "", rate_limit: Field = "",
) -> Response:  # fmt: skip
    rule_form = {"threshold": threshold, "rate_limit": rate_limit}

    async def create() -> None:
        body = validated(RuleIn, {"scope": scope, "threshold": threshold, "rate_limit": rate_limit})
        await fairuse.create_rule(session, principal, body, meta)

    return await _act(request, isp, principal, session, create, rule_form=rule_form)


@router.post("/fair-usage/{rule_id}/retire")
async def retire_rule(
    request: Request, isp: Isp, principal: RuleWriter, session: SessionDep, meta: ClientMeta,
    rule_id: IdPath,
) -> Response:  # fmt: skip
    async def retire() -> None:
        await fairuse.delete_rule(session, principal, rule_id, meta)

    return await _act(request, isp, principal, session, retire)
