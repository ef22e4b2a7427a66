"""The payments page: money received, newest first, with the voucher (or extension) each one
bought, keyset pages; and the money invariant for the ISP (every payment granted exactly once,
every grant paid) at the top. Read only: resolving unclaimed money is still to come."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from api.admin.guard import require_page
from api.admin.web import Isp, form_token, render
from api.deps import SessionDep
from api.payments import ledger, queries
from api.permissions import P
from api.tenancy import Principal

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.PAYMENTS_READ))]
PAGE = 50


@router.get("/payments")
async def payments_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    before_text = request.query_params.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    listed = await queries.payments(session, principal.tenant_id, PAGE, before)
    return render(
        request, "payments.html", isp, me=principal, csrf=await form_token(request),
        payments=listed, check=await ledger.check(session, principal.tenant_id),
        older=listed[-1]["id"] if len(listed) == PAGE else None,
    )  # fmt: skip
