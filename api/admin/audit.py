"""The audit log page: the API's filter, newer and older pages, and its audited CSV export."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.admin.guard import require_page
from api.admin.web import (
    NAIROBI_OFFSET,
    Isp,
    first_problem,
    form_token,
    render,
)
from api.audit import service as audit_service
from api.audit.schemas import AuditFilter
from api.deps import SessionDep
from api.permissions import P
from api.tenancy import (
    Principal,
)

router = APIRouter(prefix="/admin", include_in_schema=False)


# ------------------------------------------------------------------ audit log

AuditReader = Annotated[Principal, Depends(require_page(P.AUDIT_READ))]
AUDIT_PAGE = 50
AUDIT_FIELDS = ("actor", "action", "object_type", "since", "until")


@router.get("/audit")
async def audit_page(
    request: Request, isp: Isp, principal: AuditReader, session: SessionDep
) -> Response:
    """The filter is the API's (api.audit.schemas.AuditFilter); days come as dates and are
    Nairobi's (EAT, as the times shown). Export CSV is the API's own /audit.csv with the same
    filter, audited there."""
    raw = {k: v.strip() for k in AUDIT_FIELDS if (v := request.query_params.get(k, "")).strip()}
    before = request.query_params.get("before", "").strip()
    query = {k: f"{v}T00:00:00{NAIROBI_OFFSET}" if k in ("since", "until") else v
             for k, v in raw.items()}  # fmt: skip
    status, error, events, older = 200, None, [], None
    try:
        wanted = AuditFilter.model_validate(
            query | {"limit": AUDIT_PAGE} | ({"before": before} if before else {})
        )
        events = (await audit_service.list_events(session, principal, wanted)).items
        if len(events) == AUDIT_PAGE:  # a full page: there may be older rows
            older = urlencode(raw | {"before": events[-1].id})
    except ValidationError as exc:
        status, error = 422, first_problem(exc)
    export = urlencode(query)
    return render(
        request, "audit.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), q=raw, events=events, export_query=export,
        newest_query=urlencode(raw) if before else None, older_query=older,
    )  # fmt: skip
