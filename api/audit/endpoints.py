from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.audit import service
from api.audit.schemas import AuditFilter, AuditPage
from api.deps import ClientMeta, SessionDep
from api.permissions import P
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1", tags=["audit"])

Reader = Annotated[Principal, Depends(require(P.AUDIT_READ))]
Filter = Annotated[AuditFilter, Query()]


@router.get("/audit", response_model=AuditPage)
async def list_audit(query: Filter, principal: Reader, session: SessionDep) -> AuditPage:
    """Who did what, newest first: logins, settings, plans, routers, vouchers, exports."""
    return await service.list_events(session, principal, query)


@router.get("/audit.csv", response_class=StreamingResponse)
async def export_audit(
    query: Filter, principal: Reader, session: SessionDep, meta: ClientMeta
) -> StreamingResponse:
    """The same filter as CSV (page and limit ignored: every matching row); audited itself."""
    body = await service.start_export(session, principal, query, meta)
    headers = {
        "Content-Disposition": 'attachment; filename="audit.csv"',
        "Cache-Control": "no-store",
    }
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)
