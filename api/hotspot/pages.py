"""The captive portal, on each ISP's own address: <isp>.<base_domain>/hotspotportal.

Server-rendered Jinja pages; every asset is served from here (a phone behind a hotspot has no
internet yet). portal.js adds paying, the live status, CHAP and the countdown; without
JavaScript a voucher still logs in (through /hotspotportal/login and the router's PAP)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api.deps import ClientIP
from api.errors import AppError, NotFound
from api.hotspot import service
from api.hotspot.context import login_target, portal_base, router_context
from api.hotspot.schemas import Isp
from api.hotspot.strings import LANGUAGES, strings
from api.limits import Caller
from api.netaddr import parse_mac
from api.payments import stk
from api.tenancy import public, subdomain_slug
from api.vouchers.schemas import normalize_code

ROOT = Path(__file__).resolve().parents[2] / "portal"
templates = Jinja2Templates(directory=ROOT / "templates")
mikrotik = Jinja2Templates(directory=ROOT / "mikrotik")
router = APIRouter(
    prefix="/hotspotportal",
    include_in_schema=False,
    dependencies=[Depends(public("captive portal pages: the ISP comes from the address"))],
)
static = StaticFiles(directory=ROOT / "static")
NO_STORE = {"Cache-Control": "no-store"}


class UnknownIsp(Exception):
    """Rendered as the portal's 404 page (see install)."""


async def current_isp(request: Request) -> Isp:
    isp = await service.isp_for(subdomain_slug(request))
    if isp is None:
        raise UnknownIsp
    return isp


IspDep = Annotated[Isp, Depends(current_isp)]


def _language(request: Request, isp: Isp) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get("lang") or isp.language
    return wanted if wanted in LANGUAGES else "en"


def _page(request: Request, isp: Isp, name: str, **extra: Any) -> HTMLResponse:
    lang = _language(request, isp)
    response = templates.TemplateResponse(
        request,
        name,
        {"isp": isp, "t": strings(lang), "lang": lang, "base": "/hotspotportal", **extra},
        headers=NO_STORE,
    )
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


@router.get("")
@router.get("/")
async def index(request: Request, isp: IspDep) -> HTMLResponse:
    plans = await stk.plans_on_sale(isp.id)
    voucher = normalize_code(request.query_params.get("voucher"))
    context = router_context(request)
    return _page(
        request, isp, "index.html", plans=plans, router=context, voucher=voucher,
        notices=await service.notices(isp.id, context["identity"]),
    )  # fmt: skip


def preview(request: Request, isp: Isp, plans: list[dict[str, Any]], lang: str) -> HTMLResponse:
    """The package page as the ISP's customers would see it, for the dashboard's branding
    preview: the same template with `isp` as staff typed it, without its scripts (the preview is
    sandboxed: nothing in it runs or posts) and with no router (no phone is behind one)."""
    router = {k: "" for k in ("identity", "mac", "ip", "link_login_only", "link_orig",
                              "chap_id", "chap_challenge", "error")}  # fmt: skip
    context = {"isp": isp, "t": strings(lang), "lang": lang, "base": "/hotspotportal",
               "plans": plans, "router": router, "voucher": None, "preview": True}  # fmt: skip
    return templates.TemplateResponse(request, "index.html", context, headers=NO_STORE)


@router.get("/online")
async def online(request: Request, isp: IspDep) -> HTMLResponse:
    plans = await stk.plans_on_sale(isp.id)
    code = normalize_code(request.query_params.get("code"))
    identity = request.query_params.get("identity", "")[:64]
    return _page(
        request, isp, "online.html", plans=plans, code=code or "",
        notices=await service.notices(isp.id, identity),
    )  # fmt: skip


@router.get("/v/{code}")
async def voucher_link(code: str, request: Request, isp: IspDep) -> Response:
    """Where a voucher's QR code points: the portal, ready to log in with that voucher (at
    once if the phone is behind the ISP's hotspot and the router context is known)."""
    return RedirectResponse(f"/hotspotportal?{urlencode({'voucher': code})}", status_code=303)


@router.get("/qr/{code}.svg")
async def voucher_qr(code: str, request: Request, isp: IspDep) -> Response:
    clean = normalize_code(code)
    if clean is None:
        raise NotFound("No such voucher")
    url = f"{portal_base(request)}/v/{clean}"
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False)
    return Response(out.getvalue(), media_type="image/svg+xml", headers=NO_STORE)


@router.post("/login")
async def login_without_js(
    request: Request,
    isp: IspDep,
    ip: ClientIP,
    code: Annotated[str, Form(max_length=20)],
    link_login_only: Annotated[str, Form(alias="link-login-only", max_length=500)] = "",
    dst: Annotated[str, Form(max_length=500)] = "",
    mac: Annotated[str, Form(max_length=17)] = "",
) -> Response:
    """Voucher login without JavaScript: checks the code, then sends the phone to the router's
    login with it (RouterOS accepts username/password on GET when HTTP PAP is enabled)."""
    clean = normalize_code(code)
    target = login_target(link_login_only)
    problem = None
    if clean is None:
        problem = "That is not a voucher code."
    else:
        try:
            caller = Caller(ip, parse_mac(mac))
            found = await service.public_status(isp.id, clean, caller)
        except AppError as exc:  # unknown code, or too many wrong ones: said on the page
            problem = exc.detail
        else:
            if found["state"] not in ("unused", "active"):
                problem = found["reason"]
    if problem is not None or target is None:
        ctx = router_context(request) | {"link_login_only": target or "", "error": problem or ""}
        plans = await stk.plans_on_sale(isp.id)
        if problem is None:
            ctx["error"] = strings(_language(request, isp))["no_router"]
        return _page(request, isp, "index.html", plans=plans, router=ctx, voucher=clean)
    query = urlencode({"username": clean, "password": clean, "dst": dst})
    return RedirectResponse(f"{target}?{query}", status_code=303, headers=NO_STORE)


@router.get("/mikrotik/{name}.html")
async def mikrotik_page(name: str, request: Request, isp: IspDep) -> Response:
    """This ISP's RouterOS hotspot pages (login.html, alogin.html), pointing at its portal."""
    if name not in ("login", "alogin"):
        raise NotFound("No such page")
    return mikrotik.TemplateResponse(
        request, f"{name}.html", {"portal_url": portal_base(request), "name": isp.name}
    )


@router.get("/manifest.webmanifest")
async def manifest(request: Request, isp: IspDep) -> Response:
    body = {
        "name": f"{isp.name} WiFi",
        "short_name": isp.name[:12],
        "start_url": "/hotspotportal/online",
        "scope": "/hotspotportal/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": isp.color,
        "icons": [
            {"src": f"/hotspotportal/static/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png"}
            for s in (192, 512)
        ],
    }
    return Response(json.dumps(body), media_type="application/manifest+json")


@router.get("/sw.js")
async def service_worker() -> Response:
    """Served from /hotspotportal/ so its scope is the portal (static files live below it)."""
    body = (ROOT / "static" / "sw.js").read_bytes()
    return Response(body, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/logo")
async def logo(isp: IspDep) -> Response:
    found = await service.logo(isp.id)
    if found is None:
        raise NotFound("No logo")
    return Response(found[0], media_type=found[1], headers={"Cache-Control": "max-age=3600"})


def install(app: Any) -> None:
    """Routes, static files and the portal's own 404 page for unknown ISPs."""
    app.include_router(router)
    app.mount("/hotspotportal/static", static, name="portal-static")

    @app.exception_handler(UnknownIsp)
    async def unknown_isp(request: Request, _: Exception) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            "notfound.html",
            {"t": strings("en"), "sw": strings("sw"), "host": request.headers.get("host", "")},
            status_code=404,
            headers=NO_STORE,
        )
