"""The dashboard's home and the person's own account: second factor, where they are signed in,
password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.account import service as account
from api.admin import live
from api.admin.web import (
    Enrolling,
    Isp,
    Person,
    _session_id,
    _signed_in,
    form_token,
    render,
)
from api.auth.endpoints import set_session_cookie
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, BadRequest
from api.tenancy import (
    Principal,
    staff_session,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ home and my account


@router.get("/")
async def home(request: Request, isp: Isp, principal: Person, session: SessionDep) -> Response:
    """What the business looks like now, as far as the role may see: who is online per router
    and the silent routers (routers:read), today's and this month's money, today's sales by
    package, purchases waiting and payments that bought nothing (payments:read)."""
    return render(
        request, "home.html", isp, me=principal, csrf=await form_token(request),
        **await live.figures(session, principal),
    )  # fmt: skip


async def _account(
    request: Request, isp: Isp, principal: Principal, session: SessionDep, *, status: int = 200,
    error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    current = await staff_session(request, enrolling=True)
    factor = await account.second_factor_status(session, principal)
    # A login sent to enrol sees only its second factor until it is on.
    listed = await account.sessions(principal, current.key) if current.complete else None
    return render(
        request, "account.html", isp, status=status, error=error, me=principal,
        csrf=current.csrf, factor=factor, sessions=listed,
    )  # fmt: skip


@router.get("/account")
async def account_page(
    request: Request, isp: Isp, principal: Enrolling, session: SessionDep
) -> Response:
    return await _account(request, isp, principal, session)


@router.post("/account/totp")
async def start_totp(
    request: Request, isp: Isp, principal: Enrolling, session: SessionDep, meta: ClientMeta,
    proof: Annotated[str, Form(max_length=32)] = "",
) -> Response:  # fmt: skip
    try:
        enrolment = await account.start_totp(principal, proof.strip() or None, meta)
    except AppError as exc:
        return await _account(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return render(
        request, "totp.html", isp, me=principal, csrf=await form_token(request),
        secret=enrolment.secret, qr_svg=enrolment.qr_svg,
    )  # fmt: skip


@router.post("/account/totp/confirm")
async def confirm_totp(
    request: Request, isp: Isp, principal: Enrolling, session: SessionDep, meta: ClientMeta,
    code: Annotated[str, Form(max_length=32)] = "",
) -> Response:  # fmt: skip
    try:
        out = await account.confirm(principal, _session_id(request), code.strip(), meta)
    except AppError as exc:
        pending = await account.pending_totp(principal)
        if pending is None:
            return await _account(
                request, isp, principal, session, status=exc.status_code, error=exc.detail
            )
        return render(
            request, "totp.html", isp, status=exc.status_code, error=exc.detail, me=principal,
            csrf=await form_token(request), secret=pending.secret, qr_svg=pending.qr_svg,
        )  # fmt: skip
    # The session moved to a new id: this answer carries it, with the codes shown once.
    response = render(request, "recovery.html", isp, me=principal, codes=out.recovery_codes)
    set_session_cookie(response, out)
    return response


@router.post("/account/sessions/{session_key}/end")
async def end_session(
    request: Request, isp: Isp, principal: Person, session: SessionDep, meta: ClientMeta,
    session_key: str,
) -> Response:  # fmt: skip
    try:
        await account.end_session(session, principal, session_key[:64], meta)
    except AppError as exc:
        return await _account(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/account?flash=ended", status_code=303)


@router.post("/account/password")
async def change_password(
    request: Request, isp: Isp, principal: Person, session: SessionDep, meta: ClientMeta,
    current_password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:  # fmt: skip
    try:
        if not current_password or not new_password:
            raise BadRequest("Enter your current password and a new one")
        out = await account.change_password(
            principal, _session_id(request), current_password, new_password, meta
        )
    except AppError as exc:
        return await _account(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return _signed_in(out, "/admin/account?flash=password")
