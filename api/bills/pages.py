"""The page an expired subscriber's router redirects plain HTTP to: <isp>.<base-domain>/expired,
saying why and how to pay (the paybill and their username as account, or the self-care page).
The router cannot redirect HTTPS (it would need the site's certificate): the page says so."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.db import unit_of_work
from api.hotspot.pages import NO_STORE, IspDep, _language, templates
from api.hotspot.strings import strings
from api.payments import repository as payments_repository
from api.tenancy import public

router = APIRouter(
    include_in_schema=False,
    dependencies=[Depends(public("the expired subscribers' page: the ISP comes from the address"))],
)


@router.get("/expired")
async def expired(request: Request, isp: IspDep) -> HTMLResponse:
    async with unit_of_work() as session:
        row = await payments_repository.settings_row(session, isp.id)
    paybill = None
    if row is not None and row.account_type == "paybill":
        paybill = row.c2b_shortcode or row.shortcode
    lang = _language(request, isp)
    context = {"isp": isp, "t": strings(lang), "lang": lang, "base": "/hotspotportal",
               "paybill": paybill}  # fmt: skip
    return templates.TemplateResponse(request, "expired.html", context, headers=NO_STORE)
