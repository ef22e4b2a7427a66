"""The platform operators' API, on the platform's own host (never an ISP's subdomain). Signing in
takes the password and then, always, a TOTP code; an operator without an authenticator gets a
session that can only set one up. Sessions are the staff ones (cookie, CSRF, timeouts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.account.schemas import ConfirmIn, ConfirmOut, ProofIn, TotpStartOut
from api.auth.endpoints import set_session_cookie
from api.auth.schemas import CodeIn, TokenOut
from api.deps import ClientMeta, SessionDep
from api.permissions import P
from api.platform import service
from api.platform.schemas import OperatorLoginIn, TenantOut
from api.tenancy import (
    SESSION_COOKIE,
    Operator,
    presented_session,
    public,
    require_platform,
    staff_session,
    subdomain_slug,
)

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])

Tenants = Annotated[Operator, Depends(require_platform(P.PLATFORM_TENANTS))]
Self = Annotated[Operator, Depends(require_platform(P.PLATFORM_SELF))]
Enrolling = Annotated[Operator, Depends(require_platform(P.PLATFORM_SELF, enrolling=True))]


def _session_id(request: Request) -> str:
    sid, _ = presented_session(request)
    assert sid is not None  # the dependency has just loaded it
    return sid


@router.post("/login", response_model=TokenOut, dependencies=[Depends(public("signing in"))])
async def login(
    body: OperatorLoginIn, request: Request, response: Response, meta: ClientMeta
) -> TokenOut:
    """The password; the answer's stage says what comes next: `second_factor` (post the code
    to /platform/second-factor) or `enrol` (set up the authenticator first)."""
    on_isp_host = subdomain_slug(request) is not None
    out = await service.login(
        email=body.email, password=body.password, on_isp_host=on_isp_host, meta=meta
    )
    set_session_cookie(response, out)
    return out


@router.post(
    "/second-factor",
    response_model=TokenOut,
    dependencies=[Depends(public("the second step of signing in: the session owes the code"))],
)
async def second_factor(
    body: CodeIn, request: Request, response: Response, meta: ClientMeta
) -> TokenOut:
    """The authenticator's code (or a recovery code); the session continues under a new id."""
    await staff_session(request, complete=False)  # CSRF, when the cookie carries the session
    out = await service.prove(_session_id(request), body.code, meta)
    set_session_cookie(response, out)
    return out


@router.post("/second-factor/totp", response_model=TotpStartOut)
async def start_totp(body: ProofIn, operator: Enrolling, meta: ClientMeta) -> TotpStartOut:
    """A new authenticator secret and its QR code; on once a code from it is confirmed.
    Replacing the one that is on needs a code of it (`proof`)."""
    enrolment = await service.start_totp(operator, body.proof, meta)
    return TotpStartOut(secret=enrolment.secret, uri=enrolment.uri, qr_svg=enrolment.qr_svg)


@router.post("/second-factor/confirm", response_model=ConfirmOut)
async def confirm_totp(
    body: ConfirmIn, operator: Enrolling, request: Request, response: Response, meta: ClientMeta
) -> ConfirmOut:
    """Turns the authenticator on; ten recovery codes, shown only now. Every other session of
    the operator ends; this one continues, signed in, under a new id."""
    token, codes = await service.confirm_totp(operator, _session_id(request), body.code, meta)
    out = ConfirmOut(**token.model_dump(), recovery_codes=codes)
    set_session_cookie(response, out)
    return out


@router.post("/logout", status_code=204)
async def logout(operator: Self, request: Request, meta: ClientMeta) -> Response:
    await service.logout(operator, _session_id(request), meta)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/tenants", response_model=list[TenantOut])
async def list_tenants(operator: Tenants, session: SessionDep) -> list[TenantOut]:
    """Every ISP on the platform (no ISP's data beyond who they are)."""
    return [TenantOut.model_validate(t) for t in await service.list_tenants(session)]
