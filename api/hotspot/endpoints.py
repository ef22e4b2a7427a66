"""The portal's staff API: an ISP's branding (name shown, colour, support phone, default
language and logo) at /api/v1/branding (owner, admin; the portal reads it per request), and
printable voucher sheets at /api/v1/vouchers/batches/{batch_id}/sheet.

A sheet is served a page at a time (service.CARDS_PER_PAGE cards, `?page=N`, links to the
previous and next page in the page and in a Link header), so a 10,000-voucher batch costs the
same per request as a 300-voucher one. The QR codes and the HTML are made in a worker process
(api.cpu): they are pure Python and would otherwise hold the event loop that serves the portal
and the M-Pesa callbacks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import cpu
from api.deps import ClientDevice, ClientMeta, SessionDep
from api.errors import NotFound
from api.hotspot import service
from api.hotspot.schemas import BrandingIn
from api.hotspot.sheet_render import render
from api.payments.endpoints import TenantId
from api.permissions import P
from api.tenancy import Principal, public, require
from api.vouchers.schemas import normalize_code

branding = APIRouter(prefix="/api/v1/branding", tags=["branding"])
sheets = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])
portal = APIRouter(
    prefix="/api/v1/portal",
    tags=["portal"],
    dependencies=[Depends(public("the customer portal: the voucher code is the credential"))],
)
Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]
VoucherReader = Annotated[Principal, Depends(require(P.VOUCHERS_READ))]
MAX_PAGE = 1_000_000  # keeps OFFSET inside PostgreSQL's bigint however the number is typed


@branding.get("")
async def get_branding(principal: Reader, session: SessionDep) -> dict[str, Any]:
    return await service.branding(session, principal.tenant_id)


@branding.put("")
async def put_branding(
    body: BrandingIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> dict[str, Any]:
    return await service.update_branding(session, principal, body, meta)


@branding.put("/logo")
async def put_logo(
    request: Request, principal: Writer, session: SessionDep, meta: ClientMeta
) -> dict[str, Any]:
    """The logo as the request body (PNG, JPEG or WebP, at most 64 KB)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > service.MAX_LOGO:
            raise service.PayloadTooLarge(f"The logo must be at most {service.MAX_LOGO // 1024} KB")
        chunks.append(chunk)
    return await service.set_logo(session, principal, b"".join(chunks), meta)


@branding.delete("/logo", status_code=204)
async def delete_logo(principal: Writer, session: SessionDep, meta: ClientMeta) -> Response:
    await service.remove_logo(session, principal, meta)
    return Response(status_code=204)


@sheets.get("/batches/{batch_id}/sheet", response_class=HTMLResponse)
async def batch_sheet(
    batch_id: str,
    request: Request,
    principal: VoucherReader,
    session: SessionDep,
    meta: ClientMeta,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based sheet page")] = 1,
) -> HTMLResponse:
    """One page of the batch's sheet to print: CARDS_PER_PAGE cards, 3 across on A4."""
    try:
        batch = str(uuid.UUID(batch_id))
    except ValueError:
        raise NotFound("No such batch") from None
    sheet = await service.sheet_page(session, principal, batch, page, request.url, meta)
    compress = "gzip" in request.headers.get("accept-encoding", "")
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Encoding"}
    if compress:
        headers["Content-Encoding"] = "gzip"  # our GZip middleware passes encoded bodies on
    body = await cpu.run(render, sheet, compress)
    near = (("prev", sheet.prev_url), ("next", sheet.next_url))
    if links := [f'<{url}>; rel="{rel}"' for rel, url in near if url]:
        headers["Link"] = ", ".join(links)
    return HTMLResponse(body, headers=headers)


@portal.get("/vouchers/{code}")
async def voucher_status(code: str, tenant_id: TenantId, caller: ClientDevice) -> dict[str, Any]:
    """A voucher's state and what is left, for its holder."""
    clean = normalize_code(code)
    if clean is None:  # cannot be a code: no guess to count
        raise NotFound("No such voucher. Check the code and try again.")
    return await service.public_status(tenant_id, clean, caller)


router = APIRouter()
router.include_router(branding)
router.include_router(sheets)
router.include_router(portal)
