"""The sessions page: who is online, by router or voucher; disconnecting; the Disconnect/CoA
log with each router's answer."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.web import (
    Isp,
    first_problem,
    form_token,
    render,
)
from api.db import roll_back
from api.deps import ClientMeta, DbId, SessionDep
from api.errors import AppError, BadRequest
from api.models import Tenant
from api.permissions import P
from api.routers import service as routers
from api.sessions import control
from api.sessions import service as sessions_service
from api.sessions.schemas import SessionFilter
from api.tenancy import (
    Principal,
    allowed,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


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
        status, error = 422, first_problem(exc)
    except AppError as exc:
        status, error = exc.status_code, exc.detail
    older = None
    if len(listed) == SESSIONS_PAGE:
        older = urlencode({k: v for k, v in q.items() if v} | {"before": listed[-1].id})
    return render(
        request, "sessions.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), q=q, sessions=listed, older=older,
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
