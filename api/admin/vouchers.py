"""The vouchers pages: making a batch and printing its sheet, finding a voucher, its state,
devices and sessions, and its actions."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.web import (
    Isp,
    acted,
    first_problem,
    form_token,
    render,
    validated,
)
from api.db import roll_back
from api.deps import ClientMeta, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.permissions import P
from api.plans import service as plans
from api.sessions import control
from api.sessions import service as sessions_service
from api.sessions.schemas import SessionPage
from api.tenancy import (
    Principal,
    allowed,
)
from api.vouchers import service as vouchers
from api.vouchers.schemas import (
    CODE_PATTERN,
    BatchCreate,
    CodePath,
    VoucherExtend,
    VoucherFilter,
    VoucherUpdate,
    normalize_code,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ vouchers

VoucherReader = Annotated[Principal, Depends(require_page(P.VOUCHERS_READ))]
VoucherSeller = Annotated[Principal, Depends(require_page(P.VOUCHERS_GENERATE))]
VoucherWriter = Annotated[Principal, Depends(require_page(P.VOUCHERS_WRITE))]


VOUCHERS_PAGE = 30


async def _listed(
    request: Request, principal: Principal, session: SessionDep
) -> tuple[dict[str, str], list[Any], str | None, str | None]:
    """The search box's text and the page asked for (q, before), the vouchers found, the
    query of the next page (None on the last) and what to fix in the search (None if fine)."""
    q = {k: request.query_params.get(k, "").strip() for k in ("q", "before")}
    try:
        wanted = VoucherFilter.model_validate(
            {"limit": VOUCHERS_PAGE} | {k: v for k, v in q.items() if v}
        )
    except ValidationError as exc:
        return q, [], None, first_problem(exc)
    found = list(await vouchers.list_vouchers(session, principal, wanted))
    older = None
    if len(found) == VOUCHERS_PAGE:
        older = urlencode(({"q": q["q"]} if q["q"] else {}) | {"before": found[-1].id})
    return q, found, older, None


async def _vouchers(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    batch: Any = None,
) -> HTMLResponse:  # fmt: skip
    can_generate = allowed(principal, P.VOUCHERS_GENERATE)
    q, found, older, problem = await _listed(request, principal, session)
    if problem is not None and status == 200:
        status = 422  # said beside the search box, not as the page's error
    return render(
        request, "vouchers.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), can_generate=can_generate, form=form or {}, batch=batch,
        plans=await plans.list_plans(session, principal) if can_generate else [],
        q=q, vouchers=found, older=older, problem=problem,
    )  # fmt: skip


@router.get("/vouchers")
async def vouchers_page(
    request: Request, isp: Isp, principal: VoucherReader, session: SessionDep
) -> Response:
    """The latest vouchers, or those a search finds (code, phone or M-Pesa receipt), in keyset
    pages; an htmx request (the search box as one types) gets only the results."""
    if request.headers.get("hx-request") != "true":
        return await _vouchers(request, isp, principal, session)
    q, found, older, problem = await _listed(request, principal, session)
    # 200 even for a search to fix: htmx swaps in only 2xx answers, and this one says what to fix.
    return render(
        request, "voucher_results.html", isp, me=principal, q=q, vouchers=found, older=older,
        problem=problem,
    )  # fmt: skip


@router.get("/vouchers/find")
async def find_voucher(
    request: Request, isp: Isp, principal: VoucherReader, session: SessionDep
) -> Response:
    code = normalize_code(request.query_params.get("code", "")[:16])
    if not code or not re.fullmatch(CODE_PATTERN, code):
        return await _vouchers(
            request,
            isp,
            principal,
            session,
            status=422,
            error="A code is 6 to 8 letters and digits",
        )
    return RedirectResponse(f"/admin/vouchers/{code}", status_code=303)


@router.post("/vouchers/batches")
async def make_vouchers(
    request: Request, isp: Isp, principal: VoucherSeller, session: SessionDep, meta: ClientMeta,
    plan_id: Annotated[str, Form(max_length=12)] = "",
    count: Annotated[str, Form(max_length=12)] = "",
) -> Response:  # fmt: skip
    """The codes and the sheet to print are in this answer."""
    form = {"plan_id": plan_id, "count": count}
    try:
        body = validated(BatchCreate, {"plan_id": plan_id, "count": count})
        batch = await vouchers.generate_batch(session, principal, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await _vouchers(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )
    return await _vouchers(request, isp, principal, session, status=201, batch=batch)


async def _voucher(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, code: str, *,
    status: int = 200, error: str | None = None, typed: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    detail = await vouchers.get_detail(session, principal, code)
    listed = await sessions_service.voucher_sessions(session, principal, code, SessionPage())
    paid = None
    if allowed(principal, P.PAYMENTS_READ):
        paid = await vouchers.payments_of(session, principal, detail.id)
    return render(
        request, "voucher.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), v=detail, sessions=listed, payments=paid,
        can_write=allowed(principal, P.VOUCHERS_WRITE), typed=typed or {},
    )  # fmt: skip


@router.get("/vouchers/{code}")
async def voucher_page(
    request: Request, isp: Isp, principal: VoucherReader, session: SessionDep, code: CodePath
) -> Response:
    """State, time and data left, devices, sessions, and its actions."""
    return await _voucher(request, isp, principal, session, code)


async def _voucher_action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, code: str,
    action: Any, flash: str, typed: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _voucher(
            request, isp, principal, session, code, status=exc.status_code, error=exc.detail,
            typed=typed,
        )  # fmt: skip

    return await acted(session, action, again, f"/admin/vouchers/{code}?flash={flash}")


@router.post("/vouchers/{code}/revoke")
async def revoke_voucher(
    request: Request, isp: Isp, principal: VoucherWriter, session: SessionDep, meta: ClientMeta,
    code: CodePath,
) -> Response:  # fmt: skip
    async def revoke_it() -> None:
        await control.revoke_voucher(session, principal, code, meta)

    return await _voucher_action(
        request, isp, principal, session, code, revoke_it, "revoked-voucher"
    )


@router.post("/vouchers/{code}/disconnect")
async def disconnect_voucher(
    request: Request, isp: Isp, principal: VoucherWriter, session: SessionDep, meta: ClientMeta,
    code: CodePath,
) -> Response:  # fmt: skip
    async def cut() -> None:
        await control.staff_disconnect_voucher(session, principal, code, meta)

    return await _voucher_action(request, isp, principal, session, code, cut, "disconnecting")


@router.post("/vouchers/{code}/device-limit")
async def set_device_limit(
    request: Request, isp: Isp, principal: VoucherWriter, session: SessionDep, meta: ClientMeta,
    code: CodePath, device_limit: Annotated[str, Form(max_length=6)] = "",
) -> Response:  # fmt: skip
    async def save() -> None:
        body = validated(VoucherUpdate, {"device_limit": device_limit})
        await vouchers.update_voucher(session, principal, code, body, meta)

    return await _voucher_action(request, isp, principal, session, code, save, "voucher-saved")


@router.post("/vouchers/{code}/extend")
async def extend_voucher(
    request: Request, isp: Isp, principal: VoucherWriter, session: SessionDep, meta: ClientMeta,
    code: CodePath, minutes: Annotated[str, Form(max_length=6)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:  # fmt: skip
    typed = {"minutes": minutes, "reason": reason}

    async def give() -> None:
        body = validated(VoucherExtend, {"minutes": minutes, "reason": reason.strip()})
        await control.extend_voucher(session, principal, code, body, meta)

    return await _voucher_action(
        request, isp, principal, session, code, give, "voucher-extended", typed
    )
