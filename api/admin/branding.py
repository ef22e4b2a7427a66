"""The branding page: how the ISP's captive portal looks (the name it shows, its colour, the
support phone, the language it opens in, the logo), through the service the JSON API uses
(/api/v1/branding), which audits every change.

Beside the form, a preview: the portal's real package page (portal/templates/index.html) with
the values as typed, before they are saved. It is its own document in an iframe, because the
portal's stylesheet and the dashboard's would fight on one page. htmx asks this page for a new
iframe as fields change (a fragment for an htmx request); the preview itself answers with the
one relaxed framing rule of the site (api.middleware.FRAMED_BY_SELF: framed by this origin only,
sandboxed by its own policy, no script at all), and the iframe is sandboxed too."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, templates, validated
from api.deps import ClientMeta, SessionDep
from api.errors import AppError, BadRequest
from api.hotspot import pages as portal
from api.hotspot import service as branding
from api.hotspot.schemas import BrandingIn
from api.hotspot.schemas import Isp as PortalIsp
from api.hotspot.strings import LANGUAGES
from api.middleware import FRAMED_BY_SELF
from api.models import Tenant
from api.payments import stk
from api.permissions import P
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin/settings/branding", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.SETTINGS_WRITE))]
Field = Annotated[str, Form(max_length=200)]
FIELDS = ("display_name", "primary_color", "support_phone", "language")
SAYS = {
    "display_name": "The name shown is at most 60 characters; leave it empty to show the ISP's "
    "name.",
    "primary_color": "The colour is # and six hexadecimal digits, like #0d6efd.",
    "support_phone": "The support phone is 3 to 30 digits, spaces, +, -, ( or ).",
    "language": "The language is English or Kiswahili.",
}
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili"}


def _typed(values: Mapping[str, Any]) -> dict[str, str]:
    """The fields as typed (shown back as they were), each cut to what a form field holds."""
    return {k: str(values.get(k) or "")[:200] for k in FIELDS}


def _checked(typed: dict[str, str]) -> BrandingIn:
    """The typed fields as the API takes them (empty name or phone: none), or BadRequest with a
    sentence saying what to fix."""
    optional = ("display_name", "support_phone")
    values = {k: v.strip() or (None if k in optional else "") for k, v in typed.items()}
    return validated(BrandingIn, values, SAYS)


def _look(stored: dict[str, Any]) -> BrandingIn:
    return BrandingIn.model_validate({k: stored[k] for k in FIELDS})


def _preview_url(look: BrandingIn) -> str:
    query = {k: v for k, v in look.model_dump().items() if v is not None}
    return "/admin/settings/branding/preview?" + urlencode(query)


def _preview(typed: dict[str, str] | None, stored: dict[str, Any]) -> dict[str, Any]:
    """The preview's address for what was typed, or for what is stored and why not (a field
    the portal cannot show as typed)."""
    if typed is None:
        return {"preview_url": _preview_url(_look(stored)), "preview_problem": None}
    try:
        look = _checked(typed)
    except BadRequest as exc:
        return {"preview_url": _preview_url(_look(stored)), "preview_problem": exc.detail}
    return {"preview_url": _preview_url(look), "preview_problem": None}


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    stored = await branding.branding(session, principal.tenant_id)
    return render(
        request, "branding.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), stored=stored, form=form or _typed(stored),
        can_write=allowed(principal, P.SETTINGS_WRITE), languages=LANGUAGE_NAMES,
        **_preview(form, stored),
    )  # fmt: skip


@router.get("")
async def branding_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    """The page; for htmx (fields being typed), only the preview's iframe for what is typed."""
    if request.headers.get("hx-request") != "true":
        return await _page(request, isp, principal, session)
    stored = await branding.branding(session, principal.tenant_id)
    context = _preview(_typed(request.query_params), stored)
    return templates.TemplateResponse(
        request, "_branding_preview.html", context,
        headers={"Cache-Control": "no-store", "Vary": "HX-Request"},
    )  # fmt: skip


@router.get("/preview")
async def preview(request: Request, isp: Isp, principal: Reader, session: SessionDep) -> Response:
    """The portal's package page with the look in the address (not saved), for the iframe: the
    ISP's packages on sale, its stored logo. `lang` (the portal's language link) switches the
    language as on the portal."""
    look = _checked(_typed(request.query_params))
    stored = await branding.branding(session, principal.tenant_id)
    shown = PortalIsp(
        id=isp.id, slug=isp.slug, name=look.display_name or isp.name, color=look.primary_color,
        language=look.language, has_logo=stored["has_logo"], support_phone=look.support_phone,
    )  # fmt: skip
    lang = request.query_params.get("lang")
    lang = lang if lang in LANGUAGES else look.language
    response = portal.preview(request, shown, await stk.plans_on_sale(isp.id), lang)
    response.headers.update(FRAMED_BY_SELF)
    return response


async def _change(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, action: Any,
    form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    async def again(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail, form=form
        )

    return await acted(session, action, again, "/admin/settings/branding?flash=branding")


@router.post("")
async def save_branding(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    display_name: Field = "", primary_color: Field = "", support_phone: Field = "",
    language: Field = "",
) -> Response:  # fmt: skip
    typed = _typed({"display_name": display_name, "primary_color": primary_color,
                    "support_phone": support_phone, "language": language})  # fmt: skip

    async def save() -> None:
        await branding.update_branding(session, principal, _checked(typed), meta)

    return await _change(request, isp, principal, session, save, typed)


@router.post("/logo")
async def upload_logo(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    logo: Annotated[UploadFile | None, File()] = None,
) -> Response:  # fmt: skip
    """A PNG, JPEG or WebP of at most 64 KB (the API's rule; the bytes decide the type)."""

    async def upload() -> None:
        data = await logo.read(branding.MAX_LOGO + 1) if logo is not None else b""
        if not data:
            raise BadRequest("Choose a PNG, JPEG or WebP image for the logo.")
        if len(data) > branding.MAX_LOGO:
            raise branding.PayloadTooLarge(
                f"The logo must be at most {branding.MAX_LOGO // 1024} KB; this one is larger."
            )
        await branding.set_logo(session, principal, data, meta)

    return await _change(request, isp, principal, session, upload)


@router.post("/logo/remove")
async def remove_logo(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta
) -> Response:
    async def remove() -> None:
        await branding.remove_logo(session, principal, meta)

    return await _change(request, isp, principal, session, remove)
