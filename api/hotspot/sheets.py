"""Printable voucher sheets: a batch's codes as cards with the package, the price and a QR code
that opens the ISP's portal and logs in with that voucher (/hotspotportal/v/<code>)."""

from __future__ import annotations

import io
import uuid
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.deps import SessionDep
from api.errors import NotFound
from api.hotspot.context import portal_url
from api.hotspot.router import templates
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])
Reader = Annotated[Principal, Depends(require("vouchers:read"))]


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=3, border=1, xmldecl=False)
    return out.getvalue().decode()


@router.get("/batches/{batch_id}/sheet", response_class=HTMLResponse)
async def batch_sheet(
    batch_id: str, request: Request, principal: Reader, session: SessionDep
) -> HTMLResponse:
    """An HTML page to print (one card per voucher, 3 across on A4)."""
    try:
        batch = str(uuid.UUID(batch_id))
    except ValueError:
        raise NotFound("No such batch") from None
    result = await session.execute(
        text("""SELECT v.code, p.name AS package, p.price, t.slug, t.name AS isp
                  FROM voucher v JOIN plan p ON p.id = v.plan_id JOIN tenant t ON t.id = v.tenant_id
                 WHERE v.tenant_id = :t AND v.batch_id = CAST(:b AS uuid)
                 ORDER BY v.id"""),
        {"t": principal.tenant_id, "b": batch},
    )
    rows = result.mappings().all()
    if not rows:
        raise NotFound("No such batch")
    portal = portal_url(rows[0]["slug"], request.url.scheme)
    cards = [dict(r) | {"qr": qr_svg(f"{portal}/v/{r['code']}")} for r in rows]
    return templates.TemplateResponse(
        request, "sheet.html", {"cards": cards, "isp": rows[0]["isp"], "portal": portal},
        headers={"Cache-Control": "no-store"},
    )  # fmt: skip
