"""HTTP routes for sessions: who is online, staff actions on live sessions (disconnect one
session, or every session of a voucher on all of the ISP's routers), the log of what each router
answered, and the ISP's fair-usage rules. Handlers only call the services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.sessions import control, fairuse, service
from api.sessions.schemas import RuleIn, SessionFilter, SessionOut, SessionPage
from api.tenancy import Principal, require
from api.vouchers.schemas import CodePath, VoucherDetail, VoucherExtend

sessions = APIRouter(tags=["sessions"])
fair_usage = APIRouter(prefix="/api/v1/fair-usage", tags=["fair usage"])

Reader = Annotated[Principal, Depends(require(P.SESSIONS_READ))]
# `Writer` keeps meaning vouchers:write here (revoke, disconnect a voucher everywhere); one
# session on one router is sessions:write, which an allocated tech holds.
Writer = Annotated[Principal, Depends(require(P.VOUCHERS_WRITE))]
SessionWriter = Annotated[Principal, Depends(require(P.SESSIONS_WRITE))]
# A voucher's sessions span every router: theirs who may read vouchers, not a tech's.
VoucherReader = Annotated[Principal, Depends(require(P.VOUCHERS_READ))]
RuleReader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
RuleWriter = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]


@sessions.get("/api/v1/sessions", response_model=list[SessionOut])
async def list_sessions(
    query: Annotated[SessionFilter, Query()], principal: Reader, session: SessionDep
) -> list[SessionOut]:
    return await service.list_sessions(session, principal, query)


@sessions.get("/api/v1/vouchers/{code}/sessions", response_model=list[SessionOut])
async def voucher_sessions(
    code: CodePath,
    page: Annotated[SessionPage, Query()],
    principal: VoucherReader,
    session: SessionDep,
) -> list[SessionOut]:
    """What the voucher was used for: its sessions, newest first."""
    return await service.voucher_sessions(session, principal, code, page)


@sessions.post("/api/v1/vouchers/{code}/revoke", response_model=VoucherDetail)
async def revoke_voucher(
    code: CodePath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> VoucherDetail:
    """Refuses the voucher's next login and disconnects its devices online now."""
    return await control.revoke_voucher(session, principal, code, meta)


@sessions.post("/api/v1/vouchers/{code}/extend", response_model=VoucherDetail)
async def extend_voucher(
    code: CodePath, body: VoucherExtend, principal: Writer, session: SessionDep, meta: ClientMeta
) -> VoucherDetail:
    """More time on a live voucher (no payment: a reason is required, and audited); its
    devices online now get the new Session-Timeout by CoA. 409 for a spent or revoked one."""
    return await control.extend_voucher(session, principal, code, body, meta)


@sessions.post("/api/v1/vouchers/{code}/disconnect", status_code=202)
async def disconnect_voucher(
    code: CodePath, principal: Writer, session: SessionDep, meta: ClientMeta
) -> dict[str, Any]:
    """Disconnects every live session of the voucher, on every router that holds one."""
    return {"requests": await control.staff_disconnect_voucher(session, principal, code, meta)}


@sessions.post("/api/v1/sessions/{session_id}/disconnect", status_code=202)
async def disconnect_session(
    session_id: IdPath, principal: SessionWriter, session: SessionDep, meta: ClientMeta
) -> dict[str, Any]:
    requests = await control.staff_disconnect_session(session, principal, session_id, meta)
    return {"requests": requests}


@sessions.get("/api/v1/sessions/control")
async def control_log(
    principal: Reader,
    session: SessionDep,
    voucher: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Disconnect and CoA requests, newest first, with each router's answer."""
    return await control.control_log(session, principal, voucher, limit)


@fair_usage.get("")
async def list_rules(principal: RuleReader, session: SessionDep) -> list[dict[str, Any]]:
    return await fairuse.list_rules(session, principal)


@fair_usage.post("", status_code=201)
async def create_rule(
    body: RuleIn, principal: RuleWriter, session: SessionDep, meta: ClientMeta
) -> dict[str, Any]:
    return await fairuse.create_rule(session, principal, body, meta)


@fair_usage.delete("/{rule_id}", status_code=204)
async def delete_rule(
    rule_id: IdPath, principal: RuleWriter, session: SessionDep, meta: ClientMeta
) -> Response:
    """Retires a rule; the next evaluation restores the rate of the sessions it throttled."""
    await fairuse.delete_rule(session, principal, rule_id, meta)
    return Response(status_code=204)


# Included after the routes above are declared (include_router copies them).
router = APIRouter()
router.include_router(sessions)
router.include_router(fair_usage)
