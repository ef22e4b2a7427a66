"""Staff actions on live sessions: disconnect one session, or every session of a voucher on
all of the ISP's routers; and the log of what each router answered."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.deps import ClientIP, IdPath, SessionDep
from api.errors import NotFound
from api.sessions import control
from api.tenancy import Principal, require
from api.vouchers.schemas import CodePath

router = APIRouter(tags=["sessions"])
Writer = Annotated[Principal, Depends(require("vouchers:write"))]
Reader = Annotated[Principal, Depends(require("sessions:read"))]


async def _requests(session: AsyncSession, tenant_id: int, ids: list[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    result = await session.execute(
        text("""SELECT id, router_id, radacct_id, voucher_id, kind, reason, status, created_at
                  FROM coa_request WHERE tenant_id = :t AND id = ANY(:ids) ORDER BY id"""),
        {"t": tenant_id, "ids": ids},
    )
    return [dict(r) for r in result.mappings()]


@router.post("/api/v1/vouchers/{code}/disconnect", status_code=202)
async def disconnect_voucher(
    code: CodePath, principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, Any]:
    """Disconnects every live session of the voucher, on every router that holds one."""
    voucher_id = await session.scalar(
        text("SELECT id FROM voucher WHERE tenant_id = :t AND code = :c"),
        {"t": principal.tenant_id, "c": code.strip().upper()},
    )
    if voucher_id is None:
        raise NotFound("Voucher not found")
    ids = await control.disconnect_voucher(
        session, principal.tenant_id, voucher_id, reason="admin", actor=principal.email
    )
    await audit.record(session, principal, "voucher.disconnect", "voucher", voucher_id,
                       {"sessions": len(ids)}, ip)  # fmt: skip
    return {"requests": await _requests(session, principal.tenant_id, ids)}


@router.post("/api/v1/sessions/{session_id}/disconnect", status_code=202)
async def disconnect_session(
    session_id: IdPath, principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, Any]:
    rows = await control.open_sessions(session, principal.tenant_id, radacct_id=session_id)
    if not rows:
        raise NotFound("No such live session")
    ids = await control.plan(
        session, principal.tenant_id, rows, kind="disconnect", reason="admin",
        actor=principal.email,
    )  # fmt: skip
    await audit.record(session, principal, "session.disconnect", "session", session_id, None, ip)
    return {"requests": await _requests(session, principal.tenant_id, ids)}


@router.get("/api/v1/sessions/control")
async def control_log(
    principal: Reader,
    session: SessionDep,
    voucher: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Disconnect and CoA requests, newest first, with each router's answer."""
    result = await session.execute(
        text("""
            SELECT c.id, c.router_id, r.name AS router, c.radacct_id, v.code AS voucher,
                   c.kind, c.reason, c.attributes, c.status, c.error_cause, c.detail,
                   c.attempts, c.rounds, c.actor, c.created_at, c.finished_at
              FROM coa_request c
              LEFT JOIN router r ON r.id = c.router_id
              LEFT JOIN voucher v ON v.id = c.voucher_id
             WHERE c.tenant_id = :t AND (CAST(:code AS text) IS NULL OR v.code = :code)
             ORDER BY c.id DESC LIMIT :limit"""),
        {"t": principal.tenant_id, "code": voucher.upper() if voucher else None, "limit": limit},
    )
    return [dict(r) for r in result.mappings()]
