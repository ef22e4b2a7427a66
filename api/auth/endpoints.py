from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth import service
from api.auth.schemas import LoginIn, MeOut, TokenOut
from api.deps import ClientMeta, SessionDep
from api.permissions import P
from api.tenancy import Principal, bearer_token, public, require, subdomain_slug

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

CurrentPrincipal = Annotated[Principal, Depends(require(P.SELF))]


@router.post("/login", response_model=TokenOut, dependencies=[Depends(public("signing in"))])
async def login(body: LoginIn, request: Request, meta: ClientMeta) -> TokenOut:
    slug = service.resolve_tenant_slug(subdomain_slug(request), body.tenant)
    return await service.login(
        tenant_slug=slug,
        email=body.email,
        password=body.password,
        ip=meta.ip,
        user_agent=meta.user_agent,
    )


@router.post("/logout", status_code=204)
async def logout(
    request: Request, principal: CurrentPrincipal, session: SessionDep, meta: ClientMeta
) -> Response:
    token = bearer_token(request)
    assert token is not None  # current_principal already required it
    await service.logout(session, principal, token, meta)
    return Response(status_code=204)


@router.get("/me", response_model=MeOut)
async def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        staff_id=principal.staff_id,
        tenant_id=principal.tenant_id,
        email=principal.email,
        role=principal.role,
    )
