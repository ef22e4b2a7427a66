"""The ISP's dashboard, on its own address: <isp>.<base_domain>/admin/.

Server-rendered Jinja pages over the same services as the JSON API (never HTTP to ourselves),
so a rule holds the same in both: signing in (the password, then the second factor's code),
signing out, and the person's own account (second factor, where they are signed in, password).
The session is the staff one (api.staff_sessions) in its HttpOnly cookie; every form carries
the session's CSRF token (api.csrf), and the sign-in form, before any session exists, a token of
its own in a SameSite=Strict cookie. A page asked for without a session leads to the sign-in
page; a login that must set up a second factor, to its account page. Every asset is served from
here (no CDN); the only script is static/admin.js (the Content-Security-Policy allows no other)."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api import csrf as csrf_rules
from api.account import service as account
from api.audit import service as audit_service
from api.audit.schemas import AuditFilter
from api.auth import reset, second_factor
from api.auth import service as auth
from api.auth.endpoints import set_session_cookie
from api.auth.schemas import TokenOut
from api.config import get_settings
from api.db import roll_back, unit_of_work
from api.deps import ClientMeta, DbId, IdPath, SessionDep
from api.errors import AppError, BadRequest, Forbidden, NotFound
from api.models import Tenant
from api.permissions import P
from api.routers import health as router_health
from api.routers import service as routers
from api.routers.schemas import RouterCreate, RouterUpdate
from api.sessions import control
from api.sessions import service as sessions_service
from api.sessions.schemas import SessionFilter
from api.staff import invites
from api.staff import service as staff_service
from api.staff.schemas import InviteIn
from api.tenancy import (
    SESSION_COOKIE,
    EnrolFirst,
    PageRefused,
    Principal,
    SignInFirst,
    allowed,
    presented_session,
    public,
    require_page,
    staff_session,
    subdomain_slug,
)
from api.tenants import service as tenants

ROOT = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=ROOT / "templates")
static = StaticFiles(directory=ROOT / "static")
router = APIRouter(prefix="/admin", include_in_schema=False)

LOGIN_CSRF = "mnetifi_login_csrf"
NO_STORE = {"Cache-Control": "no-store"}
PUBLIC = "the dashboard's sign-in steps: nobody is signed in yet"
# Messages a redirect may ask for (?flash=key): never text from the address itself.
FLASHES = {
    "invited": ("success", "The invitation is on its way; the link works once, for 48 hours."),
    "withdrawn": ("success", "The invitation is withdrawn."),
    "staff": ("success", "Saved."),
    "policy": ("success", "The sign-in rule is saved."),
    "disconnecting": ("success", "Disconnect sent; the routers' answers show below."),
    "router-saved": ("success", "The router is saved."),
    "router-removed": ("success", "The router is removed."),
    "revoked": ("success", "The token is revoked: whatever used it is refused from now on."),
    "password": ("success", "Your password is changed; your other devices are signed out."),
    "ended": ("success", "That device is signed out."),
    "resent": ("info", "A new code is on its way."),
    "signed-out": ("info", "You are signed out."),
    "reset": ("success", "Your password is set. Sign in with it."),
    "joined": ("success", "Welcome! Sign in with the password you chose."),
}

Person = Annotated[Principal, Depends(require_page(P.SELF))]
Enrolling = Annotated[Principal, Depends(require_page(P.SELF, enrolling=True))]


class NoIsp(Exception):
    """Rendered as the dashboard's 404 page (see install)."""


async def current_isp(request: Request) -> Tenant:
    slug = subdomain_slug(request)
    if slug is None:
        raise NoIsp
    try:
        async with unit_of_work() as session:
            tenant = await tenants.get_tenant(session, slug)
    except NotFound:
        raise NoIsp from None
    if not tenant.active:
        raise NoIsp
    return tenant


Isp = Annotated[Tenant, Depends(current_isp)]


def render(
    request: Request, name: str, isp: Tenant, *, status: int = 200, error: str | None = None,
    **context: Any,
) -> HTMLResponse:  # fmt: skip
    flashes = []
    if (key := request.query_params.get("flash")) in FLASHES:
        flashes.append(FLASHES[key])
    if error:
        flashes.append(("danger", error))
    me = context.get("me")
    return templates.TemplateResponse(
        request, name,
        {"isp": isp, "me": None, "csrf": "", "flashes": flashes, "nav": _nav(me), **context},
        status_code=status, headers=NO_STORE,
    )  # fmt: skip


# The dashboard's sections, each shown only to roles whose permission opens it.
SECTIONS = [
    ("/admin/sessions", "Sessions", P.SESSIONS_READ),
    ("/admin/routers", "Routers", P.ROUTERS_READ),
    ("/admin/staff", "Staff", P.STAFF_READ),
    ("/admin/audit", "Audit log", P.AUDIT_READ),
    ("/admin/tokens", "API tokens", P.TOKENS),
]


def _nav(me: Principal | None) -> list[tuple[str, str]]:
    return [(href, label) for href, label, p in SECTIONS if me is not None and allowed(me, p)]


def _session_id(request: Request) -> str:
    sid, _ = presented_session(request)
    return sid or ""


def _signed_in(out: TokenOut, to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, out)
    return response


def _next_page(out: TokenOut) -> str:
    return {"second_factor": "/admin/login/code", "enrol": "/admin/account"}.get(
        out.stage, "/admin/"
    )


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


# ------------------------------------------------------------------ home and my account


async def _csrf(request: Request) -> str:
    return (await staff_session(request, enrolling=True)).csrf


@router.get("/")
async def home(request: Request, isp: Isp, principal: Person) -> Response:
    return render(request, "home.html", isp, me=principal, csrf=await _csrf(request))


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
        request, "totp.html", isp, me=principal, csrf=await _csrf(request),
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
            csrf=await _csrf(request), secret=pending.secret, qr_svg=pending.qr_svg,
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


# ------------------------------------------------------------------ staff

StaffReader = Annotated[Principal, Depends(require_page(P.STAFF_READ))]
StaffWriter = Annotated[Principal, Depends(require_page(P.STAFF_WRITE))]
PolicyMaker = Annotated[Principal, Depends(require_page(P.STAFF_POLICY))]


async def _staff(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    can_write = allowed(principal, P.STAFF_WRITE)
    return render(
        request, "staff.html", isp, status=status, error=error, me=principal,
        csrf=await _csrf(request), staff=await staff_service.list_staff(session, principal),
        invites=await invites.pending(session, principal) if can_write else [],
        routers=await routers.list_routers(session, principal) if can_write else [],
        policy=await staff_service.policy(session, principal),
        can_write=can_write, can_policy=allowed(principal, P.STAFF_POLICY),
        roles=["owner", "admin", "tech", "support"], form=form or {},
    )  # fmt: skip


@router.get("/staff")
async def staff_page(
    request: Request, isp: Isp, principal: StaffReader, session: SessionDep
) -> Response:
    return await _staff(request, isp, principal, session)


async def _staff_action(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    flash: str, form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """Runs a staff change; on a refusal the page is shown again with why (and what was
    typed), its change rolled back; else back to the page with a flash."""
    try:
        await action()
    except AppError as exc:
        await roll_back(session)
        return await _staff(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )
    return RedirectResponse(f"/admin/staff?flash={flash}", status_code=303)


@router.post("/staff/invite")
async def invite(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    channel: Annotated[str, Form(max_length=10)] = "email",
    phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    form = {"email": email, "role": role, "channel": channel, "phone": phone}

    async def send() -> None:
        try:
            body = InviteIn.model_validate(
                {"email": email.strip(), "role": role, "channel": channel,
                 "phone": phone.strip() or None}
            )  # fmt: skip
        except ValidationError as exc:
            raise BadRequest(_first_problem(exc)) from None
        await invites.invite(session, principal, body, request.url.scheme, meta)

    return await _staff_action(request, isp, principal, session, send, "invited", form)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "form"
    return f"{field}: {error['msg']}"


@router.post("/staff/invites/{invite_id}/withdraw")
async def withdraw_invite(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    invite_id: IdPath,
) -> Response:  # fmt: skip
    async def withdraw() -> None:
        await invites.withdraw(session, principal, invite_id, meta)

    return await _staff_action(request, isp, principal, session, withdraw, "withdrawn")


@router.post("/staff/policy")
async def set_policy(
    request: Request, isp: Isp, principal: PolicyMaker, session: SessionDep, meta: ClientMeta,
    require_second_factor: Annotated[str, Form(max_length=5)] = "",
) -> Response:  # fmt: skip
    async def save() -> None:
        on = require_second_factor == "true"
        await staff_service.set_policy(session, principal, on, meta)

    return await _staff_action(request, isp, principal, session, save, "policy")


@router.post("/staff/{staff_id}/role")
async def change_role(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath, role: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    async def change() -> None:
        await staff_service.change_role(session, principal, staff_id, role, meta)

    return await _staff_action(request, isp, principal, session, change, "staff")


@router.post("/staff/{staff_id}/routers")
async def set_routers(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath, router_ids: Annotated[list[DbId], Form(max_length=1000)] = [],  # noqa: B006
) -> Response:  # fmt: skip
    async def save() -> None:
        await staff_service.set_routers(session, principal, staff_id, router_ids, meta)

    return await _staff_action(request, isp, principal, session, save, "staff")


@router.post("/staff/{staff_id}/second-factor/reset")
async def reset_second_factor(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath,
) -> Response:  # fmt: skip
    async def reset_it() -> None:
        await staff_service.reset_second_factor(session, principal, staff_id, meta)

    return await _staff_action(request, isp, principal, session, reset_it, "staff")


@router.post("/staff/{staff_id}/deactivate")
async def deactivate(
    request: Request, isp: Isp, principal: StaffWriter, session: SessionDep, meta: ClientMeta,
    staff_id: IdPath,
) -> Response:  # fmt: skip
    async def off() -> None:
        await staff_service.deactivate(session, principal, staff_id, meta)

    return await _staff_action(request, isp, principal, session, off, "staff")


# ------------------------------------------------------------------ routers

RouterReader = Annotated[Principal, Depends(require_page(P.ROUTERS_READ))]
RouterWriter = Annotated[Principal, Depends(require_page(P.ROUTERS_WRITE))]
RouterManager = Annotated[Principal, Depends(require_page(P.ROUTERS_MANAGE))]


async def _routers(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
    created: Any = None,
) -> HTMLResponse:  # fmt: skip
    """A tech sees only the routers allocated to them (the services' router scope)."""
    return render(
        request, "routers.html", isp, status=status, error=error, me=principal,
        csrf=await _csrf(request), routers=await router_health.list_health(session, principal),
        can_write=allowed(principal, P.ROUTERS_WRITE),
        can_manage=allowed(principal, P.ROUTERS_MANAGE), form=form or {}, created=created,
    )  # fmt: skip


def _checked(model: Any, values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise BadRequest(_first_problem(exc)) from None


@router.get("/routers")
async def routers_page(
    request: Request, isp: Isp, principal: RouterReader, session: SessionDep
) -> Response:
    return await _routers(request, isp, principal, session)


@router.post("/routers")
async def add_router(
    request: Request, isp: Isp, principal: RouterManager, session: SessionDep, meta: ClientMeta,
    name: Annotated[str, Form(max_length=100)] = "",
    ip_address: Annotated[str, Form(max_length=64)] = "",
) -> Response:  # fmt: skip
    """Its secret is generated and shown in this answer only."""
    form = {"name": name, "ip_address": ip_address}
    try:
        body = _checked(RouterCreate, form)
        created = await routers.create_router(session, principal, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await _routers(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )
    return await _routers(request, isp, principal, session, status=201, created=created)


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
        body = _checked(RouterUpdate, values)
        await routers.update_router(session, principal, router_id, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await _routers(
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
        return await _routers(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/routers?flash=router-removed", status_code=303)


# ------------------------------------------------------------------ sessions

SessionReader = Annotated[Principal, Depends(require_page(P.SESSIONS_READ))]
SessionWriter = Annotated[Principal, Depends(require_page(P.SESSIONS_WRITE))]
SESSIONS_PAGE = 50


@router.get("/sessions")
async def sessions_page(
    request: Request, isp: Isp, principal: SessionReader, session: SessionDep
) -> Response:
    return await _sessions(request, isp, principal, session)


async def _sessions(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None,
) -> HTMLResponse:  # fmt: skip
    """Online now (or every session), newest first, keyset pages; a tech sees only the sessions
    of allocated routers (the services' router scope). The Disconnect/CoA log below."""
    q = {k: request.query_params.get(k, "").strip() for k in ("router_id", "voucher", "all")}
    before = request.query_params.get("before", "")
    listed: list[Any] = []
    try:
        wanted = SessionFilter.model_validate(
            {"live": not q["all"], "limit": SESSIONS_PAGE}
            | {k: v for k, v in (("router_id", q["router_id"]), ("voucher", q["voucher"])) if v}
            | ({"before": before} if before else {})
        )
        listed = await sessions_service.list_sessions(session, principal, wanted)
    except ValidationError as exc:
        status, error = 422, _first_problem(exc)
    except AppError as exc:
        status, error = exc.status_code, exc.detail
    older = None
    if len(listed) == SESSIONS_PAGE:
        older = urlencode({k: v for k, v in q.items() if v} | {"before": listed[-1].id})
    return render(
        request, "sessions.html", isp, status=status, error=error, me=principal,
        csrf=await _csrf(request), q=q, sessions=listed, older=older,
        routers=await routers.list_routers(session, principal),
        log=await control.control_log(session, principal, None, 20),
        can_write=allowed(principal, P.SESSIONS_WRITE),
    )  # fmt: skip


@router.post("/sessions/disconnect")
async def disconnect_sessions(
    request: Request, isp: Isp, principal: SessionWriter, session: SessionDep, meta: ClientMeta,
    session_ids: Annotated[list[DbId], Form(max_length=200)] = [],  # noqa: B006
) -> Response:  # fmt: skip
    """Disconnects each chosen live session (each audited); one that ended meanwhile, or is not
    the person's to see, stops the lot with a sentence."""
    try:
        if not session_ids:
            raise BadRequest("Choose the sessions to disconnect")
        for session_id in session_ids:
            await control.staff_disconnect_session(session, principal, session_id, meta)
    except AppError as exc:
        await roll_back(session)
        return await _sessions(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/sessions?flash=disconnecting", status_code=303)


# ------------------------------------------------------------------ API tokens

TokenKeeper = Annotated[Principal, Depends(require_page(P.TOKENS))]


async def _tokens(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, Any] | None = None,
    new_token: str | None = None,
) -> HTMLResponse:  # fmt: skip
    grantable = [
        p.value
        for p in P
        if allowed(principal, p) and p != P.SELF and not p.startswith("platform:")
    ]
    return render(
        request, "tokens.html", isp, status=status, error=error, me=principal,
        csrf=await _csrf(request), tokens=await staff_service.tokens(session, principal),
        grantable=grantable, form=form or {"permissions": []}, new_token=new_token,
    )  # fmt: skip


@router.get("/tokens")
async def tokens_page(
    request: Request, isp: Isp, principal: TokenKeeper, session: SessionDep
) -> Response:
    return await _tokens(request, isp, principal, session)


@router.post("/tokens")
async def create_token(
    request: Request, isp: Isp, principal: TokenKeeper, session: SessionDep, meta: ClientMeta,
    name: Annotated[str, Form(max_length=80)] = "",
    permissions: Annotated[list[str], Form(max_length=40)] = [],  # noqa: B006
) -> Response:  # fmt: skip
    """The token is in this answer only (never in an address, so never in a log or history)."""
    try:
        made = await staff_service.create_token(session, principal, name, permissions, meta)
    except AppError as exc:
        await roll_back(session)
        form = {"name": name, "permissions": permissions}
        return await _tokens(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )
    # SessionDep commits when this returns, before the answer (scope="function") goes out.
    return await _tokens(request, isp, principal, session, status=201, new_token=made.token)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request, isp: Isp, principal: TokenKeeper, session: SessionDep, meta: ClientMeta,
    token_id: IdPath,
) -> Response:  # fmt: skip
    try:
        await staff_service.revoke_token(session, principal, token_id, meta)
    except AppError as exc:
        await roll_back(session)
        return await _tokens(
            request, isp, principal, session, status=exc.status_code, error=exc.detail
        )
    return RedirectResponse("/admin/tokens?flash=revoked", status_code=303)


# ------------------------------------------------------------------ audit log

AuditReader = Annotated[Principal, Depends(require_page(P.AUDIT_READ))]
AUDIT_PAGE = 50
AUDIT_FIELDS = ("actor", "action", "object_type", "since", "until")


@router.get("/audit")
async def audit_page(
    request: Request, isp: Isp, principal: AuditReader, session: SessionDep
) -> Response:
    """The filter is the API's (api.audit.schemas.AuditFilter); days come as dates and count
    in UTC. Export CSV is the API's own /audit.csv with the same filter, audited there."""
    raw = {k: v.strip() for k in AUDIT_FIELDS if (v := request.query_params.get(k, "")).strip()}
    page_text = request.query_params.get("page", "1")
    query = {k: f"{v}T00:00:00+00:00" if k in ("since", "until") else v for k, v in raw.items()}
    status, error, events, more, page = 200, None, [], False, 1
    try:
        page = int(page_text) if page_text.isdigit() else 1
        wanted = AuditFilter.model_validate(query | {"page": page, "limit": AUDIT_PAGE})
        events = (await audit_service.list_events(session, principal, wanted)).items
        more = len(events) == AUDIT_PAGE  # a full page: there may be older rows
    except ValidationError as exc:
        status, error = 422, _first_problem(exc)
    export = urlencode(query)
    return render(
        request, "audit.html", isp, status=status, error=error, me=principal,
        csrf=await _csrf(request), q=raw, events=events, page=page, more=more,
        export_query=export,
        newer_query=urlencode(raw | {"page": page - 1}),
        older_query=urlencode(raw | {"page": page + 1}),
    )  # fmt: skip


def install(app: Any) -> None:
    """The dashboard's routes, its static files, and what its pages answer instead of a JSON
    error: the sign-in page, the second-factor page, and a 404 page for an unknown ISP."""
    app.include_router(router)
    app.mount("/admin/static", static, name="admin-static")

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return RedirectResponse("/admin/login", status_code=303)

    @app.exception_handler(EnrolFirst)
    async def enrol_first(request: Request, exc: EnrolFirst) -> Response:
        return RedirectResponse("/admin/account", status_code=303)

    @app.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused) -> Response:
        return templates.TemplateResponse(
            request, "refused.html", {"detail": exc.detail}, status_code=403, headers=NO_STORE
        )

    @app.exception_handler(NoIsp)
    async def no_isp(request: Request, exc: NoIsp) -> Response:
        return templates.TemplateResponse(request, "notfound.html", {}, status_code=404)
