"""Printable voucher sheets: a batch's codes as cards with the package, the price and a QR code
that opens the ISP's portal and logs in with that voucher (/hotspotportal/v/<code>).

A sheet is served a page at a time (CARDS_PER_PAGE cards, `?page=N`, links to the previous and
next page in the page and in a Link header), so a 10,000-voucher batch costs the same per
request as a 300-voucher one. The QR codes and the HTML are made in a worker process
(api.cpu): they are pure Python and would otherwise hold the event loop that serves the portal
and the M-Pesa callbacks."""

from __future__ import annotations

import math
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api import cpu
from api.deps import SessionDep
from api.errors import NotFound
from api.hotspot.context import portal_url
from api.hotspot.sheet_render import SheetPage, render
from api.tenancy import Principal, require
from api.vouchers import repository

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])
Reader = Annotated[Principal, Depends(require("vouchers:read"))]
CARDS_PER_PAGE = 300  # 20 A4 sheets of 3 x 5 cards; about 0.6 MB of HTML
MAX_PAGE = 1_000_000  # keeps OFFSET inside PostgreSQL's bigint however the number is typed


def _page_url(request: Request, page: int, pages: int) -> str | None:
    return str(request.url.include_query_params(page=page)) if 1 <= page <= pages else None


@router.get("/batches/{batch_id}/sheet", response_class=HTMLResponse)
async def batch_sheet(
    batch_id: str,
    request: Request,
    principal: Reader,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based sheet page")] = 1,
) -> HTMLResponse:
    """One page of the batch's sheet to print: CARDS_PER_PAGE cards, 3 across on A4."""
    try:
        batch = str(uuid.UUID(batch_id))
    except ValueError:
        raise NotFound("No such batch") from None
    head = await repository.batch_head(session, principal.tenant_id, batch)
    if not head["n"]:
        raise NotFound("No such batch")
    total, pages = int(head["n"]), math.ceil(head["n"] / CARDS_PER_PAGE)
    if page > pages:
        raise NotFound(f"This batch has {pages} sheet pages")
    sheet = SheetPage(
        isp=head["isp"],
        portal=portal_url(head["slug"], request.url.scheme),
        cards=await repository.batch_cards(
            session, principal.tenant_id, batch, CARDS_PER_PAGE, (page - 1) * CARDS_PER_PAGE
        ),
        page=page,
        pages=pages,
        total=total,
        first=(page - 1) * CARDS_PER_PAGE + 1,
        prev_url=_page_url(request, page - 1, pages),
        next_url=_page_url(request, page + 1, pages),
    )
    compress = "gzip" in request.headers.get("accept-encoding", "")
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if compress:
        headers["Content-Encoding"] = "gzip"  # our GZip middleware passes encoded bodies on
    body = await cpu.run(render, sheet, compress)
    near = (("prev", sheet.prev_url), ("next", sheet.next_url))
    if links := [f'<{url}>; rel="{rel}"' for rel, url in near if url]:
        headers["Link"] = ", ".join(links)
    return HTMLResponse(body, headers=headers)
