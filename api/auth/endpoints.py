"""Signing in and out. A login answers with the session id as a bearer token (API clients) and
sets it in an HttpOnly cookie (browsers: SameSite=Lax, Secure in production, host-only to the
ISP's own subdomain). Requests that change something with the cookie also carry the session's
CSRF token (api.csrf); `GET /api/v1/auth/me` tells a page its token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from api.auth import reset, service
from api.auth.schemas import CodeIn, LoginIn, MeOut, ResetConfirmIn, ResetIn, TokenOut
from api.config import get_settings
from api.deps import ClientMeta, SessionDep
from api.errors import Unauthorized
from api.permissions import P
from api.tenancy import (
    SESSION_COOKIE,
    Principal,
    presented_session,
    public,
    require,
    staff_session,
    subdomain_slug,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

CurrentPrincipal = Annotated[Principal, Depends(require(P.SELF))]


def set_session_cookie(response: Response, out: TokenOut) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        out.access_token,
        max_age=out.expires_in,
        path="/",
        httponly=True,
        samesite="lax",
        secure=get_settings().environment == "production",
    )


@router.post("/login", response_model=TokenOut, dependencies=[Depends(public("signing in"))])
async def login(body: LoginIn, request: Request, response: Response, meta: ClientMeta) -> TokenOut:
    slug = service.resolve_tenant_slug(subdomain_slug(request), body.tenant)
    out = await service.login(
        tenant_slug=slug,
        email=body.email,
        password=body.password,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )
    set_session_cookie(response, out)
    return out


def _pending(request: Request) -> str:
    sid, _ = presented_session(request)
    if sid is None:
        raise Unauthorized("Sign in with your password first")
    return sid


@router.post(
    "/second-factor",
    response_model=TokenOut,
    dependencies=[Depends(public("the second step of signing in: the session owes the code"))],
)
async def second_factor(
    body: CodeIn, request: Request, response: Response, meta: ClientMeta
) -> TokenOut:
    """The TOTP or SMS code (or a recovery code) a login owes; the session continues under a
    new id, returned and set in the cookie."""
    await staff_session(request, complete=False)  # CSRF, when the cookie carries the session
    out = await service.prove_second_factor(
        session_id=_pending(request), subdomain=subdomain_slug(request), code=body.code, meta=meta
    )
    set_session_cookie(response, out)
    return out


@router.post(
    "/second-factor/resend",
    status_code=204,
    dependencies=[Depends(public("the second step of signing in: another SMS code"))],
)
async def resend_code(request: Request) -> Response:
    await staff_session(request, complete=False)
    await service.resend_code(_pending(request))
    return Response(status_code=204)


@router.post(
    "/password-reset",
    status_code=202,
    dependencies=[Depends(public("asking for a password reset link: no one is signed in"))],
)
async def request_reset(
    body: ResetIn, request: Request, meta: ClientMeta, background: BackgroundTasks
) -> dict[str, str]:
    """Mails a one-time link (48 h) if the account exists; the answer is the same either way."""
    slug = service.resolve_tenant_slug(subdomain_slug(request), body.tenant)
    send = await reset.request(slug, body.email, request.url.scheme, meta)
    if send is not None:
        background.add_task(send)
    return {"detail": "If that account exists, a link to reset its password is on its way"}


@router.post(
    "/password-reset/confirm",
    status_code=204,
    dependencies=[Depends(public("following a password reset link: the link is the credential"))],
)
async def confirm_reset(body: ResetConfirmIn, request: Request, meta: ClientMeta) -> Response:
    """Sets the new password and ends every session of the person. An unknown, used or
    expired link answers 404; a password the rules refuse leaves the link working."""
    await reset.confirm(body.token, body.password, subdomain_slug(request), meta)
    return Response(status_code=204)


@router.post("/logout", status_code=204)
async def logout(
    request: Request, principal: CurrentPrincipal, session: SessionDep, meta: ClientMeta
) -> Response:
    token, _ = presented_session(request)
    assert token is not None  # current_principal already required it
    await service.logout(session, principal, token, meta)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal, request: Request) -> MeOut:
    csrf = None
    if principal.staff_id is not None:
        csrf = (await staff_session(request)).csrf
    return MeOut(
        staff_id=principal.staff_id,
        tenant_id=principal.tenant_id,
        email=principal.email,
        role=principal.role,
        csrf_token=csrf,
    )
