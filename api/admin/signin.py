"""Signing in to the dashboard: the password, the second factor's code, signing out; a
forgotten password; the pages a mailed link opens (a new password, joining by invitation)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import csrf as csrf_rules
from api.admin.web import (
    LOGIN_CSRF,
    PUBLIC,
    Isp,
    Person,
    _next_page,
    _session_id,
    _signed_in,
    render,
)
from api.auth import reset, second_factor
from api.auth import service as auth
from api.config import get_settings
from api.db import unit_of_work
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, BadRequest, Forbidden
from api.models import Tenant
from api.staff import invites
from api.tenancy import (
    SESSION_COOKIE,
    public,
    staff_session,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ signing in


def _public_form(request: Request, name: str, isp: Tenant, **context: Any) -> HTMLResponse:
    """A form shown before anyone is signed in (sign in, forgotten password, a link's page):
    its CSRF token also goes in a SameSite=Strict cookie, which the POST must match."""
    token = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(32)
    response = render(request, name, isp, csrf=token, **context)
    response.set_cookie(
        LOGIN_CSRF, token, path="/admin", httponly=True, samesite="strict",
        secure=get_settings().environment == "production",
    )  # fmt: skip
    return response


async def _public_form_checked(request: Request, sent: str) -> None:
    """403 unless the form's token matches its cookie and the form came from this site."""
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not (expected and sent and hmac.compare_digest(expected, sent)):
        raise Forbidden("This form expired; open the page again")
    await csrf_rules.check(request, sent)


@router.get("/login", dependencies=[Depends(public(PUBLIC))])
async def login_page(request: Request, isp: Isp) -> Response:
    return _public_form(request, "login.html", isp, email="")


@router.post("/login", dependencies=[Depends(public(PUBLIC))])
async def login(
    request: Request, isp: Isp, meta: ClientMeta, email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:  # fmt: skip
    fresh = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(32)
    try:
        await _public_form_checked(request, csrf_token)
        if not email.strip() or not password:
            raise BadRequest("Enter your e-mail and your password")
        out = await auth.login(
            tenant_slug=isp.slug, email=email, password=password, ip=meta.ip,
            user_agent=meta.user_agent,
        )  # fmt: skip
    except AppError as exc:
        return render(
            request, "login.html", isp, status=exc.status_code, error=exc.detail, csrf=fresh,
            email=email,
        )  # fmt: skip
    response = _signed_in(out, _next_page(out))
    response.delete_cookie(LOGIN_CSRF, path="/admin")
    return response


@router.get("/login/code", dependencies=[Depends(public(PUBLIC))])
async def code_page(request: Request, isp: Isp) -> Response:
    try:
        pending = await staff_session(request, complete=False)
    except AppError:
        return RedirectResponse("/admin/login", status_code=303)
    if pending.stage != "second_factor" or pending.tenant_id != isp.id:
        return RedirectResponse("/admin/", status_code=303)
    async with unit_of_work() as session:
        method = await second_factor.method(session, isp.id, pending.staff_id)
    return render(request, "code.html", isp, csrf=pending.csrf, method=method)


@router.post("/login/code", dependencies=[Depends(public(PUBLIC))])
async def prove_code(
    request: Request, isp: Isp, meta: ClientMeta, code: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    try:
        pending = await staff_session(request, complete=False)  # its CSRF token, from this site
    except AppError:
        return RedirectResponse("/admin/login", status_code=303)
    try:
        if not code.strip():
            raise BadRequest("Enter the code first")
        out = await auth.prove_second_factor(
            session_id=_session_id(request), subdomain=isp.slug, code=code.strip(), meta=meta
        )
    except AppError as exc:
        async with unit_of_work() as session:
            method = await second_factor.method(session, isp.id, pending.staff_id)
        return render(
            request, "code.html", isp, status=exc.status_code, error=exc.detail,
            csrf=pending.csrf, method=method,
        )  # fmt: skip
    return _signed_in(out, "/admin/")


@router.post("/login/code/resend", dependencies=[Depends(public(PUBLIC))])
async def resend_code(request: Request, isp: Isp) -> Response:
    try:
        await staff_session(request, complete=False)
        await auth.resend_code(_session_id(request))
    except AppError:
        return RedirectResponse("/admin/login/code", status_code=303)
    return RedirectResponse("/admin/login/code?flash=resent", status_code=303)


@router.post("/logout")
async def logout(
    request: Request, principal: Person, session: SessionDep, meta: ClientMeta
) -> Response:
    await auth.logout(session, principal, _session_id(request), meta)
    response = RedirectResponse("/admin/login?flash=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------ forgotten password, links


@router.get("/forgot", dependencies=[Depends(public(PUBLIC))])
async def forgot_page(request: Request, isp: Isp) -> Response:
    return _public_form(request, "forgot.html", isp, email="", sent=False)


@router.post("/forgot", dependencies=[Depends(public(PUBLIC))])
async def forgot(
    request: Request, isp: Isp, meta: ClientMeta, background: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:  # fmt: skip
    """The same answer whether or not the account exists; the mail goes after the answer."""
    try:
        await _public_form_checked(request, csrf_token)
        if not email.strip():
            raise BadRequest("Enter the e-mail you sign in with")
        send = await reset.request(isp.slug, email, request.url.scheme, meta)
    except AppError as exc:
        return _public_form(
            request, "forgot.html", isp, status=exc.status_code, error=exc.detail, email=email,
            sent=False,
        )  # fmt: skip
    if send is not None:
        background.add_task(send)
    return render(request, "forgot.html", isp, email=email, sent=True)


# What following a mailed link does, per page: the service that spends it and the flash after.
LINKS = {
    "reset-password": (reset.confirm, "reset"),
    "accept-invite": (invites.accept, "joined"),
}
LinkForm = Annotated[str, Form(max_length=100)]


@router.get("/reset-password", dependencies=[Depends(public(PUBLIC))])
@router.get("/accept-invite", dependencies=[Depends(public(PUBLIC))])
async def link_page(request: Request, isp: Isp) -> Response:
    """The link's token is in the address's fragment, which only the page's script reads."""
    return _public_form(request, "link.html", isp, page=request.url.path.rsplit("/", 1)[-1])


@router.post("/reset-password", dependencies=[Depends(public(PUBLIC))])
@router.post("/accept-invite", dependencies=[Depends(public(PUBLIC))])
async def follow_link(
    request: Request, isp: Isp, meta: ClientMeta, token: LinkForm = "",
    password: Annotated[str, Form(max_length=1024)] = "", csrf_token: LinkForm = "",
) -> Response:  # fmt: skip
    """A new password, or joining: the link works once, and a refused password leaves it so."""
    page = request.url.path.rsplit("/", 1)[-1]
    use, flash = LINKS[page]
    try:
        await _public_form_checked(request, csrf_token)
        await use(token, password, isp.slug, meta)
    except AppError as exc:
        return _public_form(
            request, "link.html", isp, status=exc.status_code, error=exc.detail, page=page,
            token=token,
        )  # fmt: skip
    return RedirectResponse(f"/admin/login?flash={flash}", status_code=303)
