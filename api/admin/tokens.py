"""The API tokens page: making (shown once), last use, revoking."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.admin.guard import require_page
from api.admin.web import (
    Isp,
    form_token,
    render,
)
from api.db import roll_back
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.permissions import P
from api.staff import service as staff_service
from api.tenancy import (
    Principal,
    allowed,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


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
        csrf=await form_token(request), tokens=await staff_service.tokens(session, principal),
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
