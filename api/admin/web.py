"""What every dashboard page shares: the templates, the ISP of the address, rendering with the
flash messages and the sections the person may open, the session's CSRF token for forms, and
turning a schema's refusal into a sentence. The pages themselves are in the sibling modules;
api.admin.pages installs them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin import language
from api.admin.guard import require_page
from api.auth.endpoints import set_session_cookie
from api.auth.schemas import TokenOut
from api.db import roll_back, unit_of_work
from api.errors import AppError, BadRequest, NotFound
from api.models import Tenant
from api.permissions import P
from api.tenancy import (
    Principal,
    allowed,
    presented_session,
    staff_session,
    subdomain_slug,
)
from api.tenants import service as tenants

ROOT = Path(__file__).resolve().parent
# Every template gets `_` and its language (api.admin.language), whichever handler renders it.
templates = Jinja2Templates(
    directory=ROOT / "templates", context_processors=[language.template_context]
)
static = StaticFiles(directory=ROOT / "static")
# Times as people in Kenya read them: Nairobi's clock and calendar (EAT, UTC+3), not UTC's. The
# database keeps UTC; only what the dashboard shows is converted.
NAIROBI = ZoneInfo("Africa/Nairobi")
# Its offset, for a day typed into a form (Kenya keeps no summer time): "+03:00".
NAIROBI_OFFSET = datetime(2000, 1, 1, tzinfo=NAIROBI).isoformat()[-6:]


def _in_nairobi(form: str) -> Callable[[datetime | None], str]:
    return lambda when: when.astimezone(NAIROBI).strftime(form) if when else "—"


def nairobi_time(when: datetime | None, seconds: bool = False) -> str:
    """ "2026-12-06 23:37 EAT" (with seconds: the audit log), or "—"."""
    return _in_nairobi("%Y-%m-%d %H:%M:%S EAT" if seconds else "%Y-%m-%d %H:%M EAT")(when)


templates.env.filters["nairobi_day"] = _in_nairobi("%Y-%m-%d")  # a subscriber's due date
templates.env.filters["nairobi_time"] = nairobi_time
templates.env.filters["nairobi_clock"] = _in_nairobi("%H:%M:%S EAT")  # today's events

LOGIN_CSRF = "mnetifi_login_csrf"
NO_STORE = {"Cache-Control": "no-store"}
PUBLIC = "the dashboard's sign-in steps: nobody is signed in yet"
# Messages a redirect may ask for (?flash=key): never text from the address itself. Their text
# is English, translated when shown (lang/sw.json), as SECTIONS' names.
FLASHES = {
    "invited": ("success", "The invitation is on its way; the link works once, for 48 hours."),
    "withdrawn": ("success", "The invitation is withdrawn."),
    "staff": ("success", "Saved."),
    "policy": ("success", "The sign-in rule is saved."),
    "revoked-voucher": ("success", "Revoked: its next login is refused, its devices cut off."),
    "voucher-saved": ("success", "Saved."),
    "voucher-extended": ("success", "More time given; devices online now get it at once."),
    "plan-saved": ("success", "The package is saved."),
    "settings": ("success", "The settings are saved."),
    "rule": ("success", "Saved: the next message of this kind says it so."),
    "sms": ("success", "The SMS account is saved."),
    "branding": ("success", "The portal's look is saved: customers see it on their next page."),
    "offer-saved": ("success", "Saved."),
    "subscriber-saved": ("success", "The subscriber is saved."),
    "suspended": ("success", "Suspended: disconnected now, and refused until you resume them."),
    "bill-sent": ("success", "The M-Pesa prompt is on its way to their phone; paying renews them."),
    "resumed": ("success", "Resumed: they can log in again."),
    "unblocked": ("success", "Unblocked: their next login is checked as any other."),
    "moved": ("success", "Moved: nothing else about the subscriber changed."),
    "plan-changed": ("success", "The plan is changed; it applies from their next login."),
    "zone-saved": ("success", "The zone is saved."),
    "zone-removed": ("success", "The zone is removed."),
    "network-saved": ("success", "Saved."),
    "network-removed": ("success", "Removed."),
    "outage-announced": ("success", "Announced: customers online there are told once."),
    "outage-ended": ("success", "The outage is ended."),
    "offer-sent": ("success", "The offer is on its way; its progress shows below."),
    "opted-out": ("success", "That number gets no more offers."),
    "disconnecting": ("success", "Disconnect sent; the routers' answers show below."),
    "router-saved": ("success", "The router is saved."),
    "router-removed": ("success", "The router is removed."),
    "resolved": ("success", "Resolved: the payment bought its package; the customer can log in."),
    "revoked": ("success", "The token is revoked: whatever used it is refused from now on."),
    "password": ("success", "Your password is changed; your other devices are signed out."),
    "ended": ("success", "That device is signed out."),
    "resent": ("info", "A new code is on its way."),
    "signed-out": ("info", "You are signed out."),
    "reset": ("success", "Your password is set. Sign in with it."),
    "joined": ("success", "Welcome! Sign in with the password you chose."),
}

Person = Annotated[Principal, Depends(require_page(P.SELF))]
Enrolling = Annotated[Principal, Depends(require_page(P.SELF, enrolling=True))]


class NoIsp(Exception):
    """Rendered as the dashboard's 404 page (see install)."""


async def current_isp(request: Request) -> Tenant:
    slug = subdomain_slug(request)
    if slug is None:
        raise NoIsp
    try:
        async with unit_of_work() as session:
            tenant = await tenants.get_tenant(session, slug)
    except NotFound:
        raise NoIsp from None
    if not tenant.active:
        raise NoIsp
    return tenant


Isp = Annotated[Tenant, Depends(current_isp)]


def render(
    request: Request, name: str, isp: Tenant, *, status: int = 200, error: str | None = None,
    **context: Any,
) -> HTMLResponse:  # fmt: skip
    gettext = language.translator(language.chosen(request))
    flashes = []
    if (key := request.query_params.get("flash")) in FLASHES:
        kind, text = FLASHES[key]
        flashes.append((kind, gettext(text)))
    if error:
        flashes.append(("danger", error))
    nav = [(href, gettext(label)) for href, label in _nav(context.get("me"))]
    return templates.TemplateResponse(
        request, name,
        {"isp": isp, "me": None, "csrf": "", "flashes": flashes, "nav": nav, **context},
        status_code=status, headers=NO_STORE,
    )  # fmt: skip


# The dashboard's sections, each shown only to roles whose permission opens it.
SECTIONS = [
    ("/admin/vouchers", "Vouchers", P.VOUCHERS_READ),
    ("/admin/plans", "Packages", P.PLANS_READ),
    ("/admin/promos", "Promos", P.PLANS_READ),
    ("/admin/sessions", "Sessions", P.SESSIONS_READ),
    ("/admin/payments", "Payments", P.PAYMENTS_READ),
    ("/admin/subscribers", "Subscribers", P.SUBSCRIBERS_READ),
    ("/admin/zones", "Zones", P.NETWORK_READ),
    ("/admin/routers", "Routers", P.ROUTERS_READ),
    ("/admin/network", "IP pools and plans", P.NETWORK_WRITE),
    ("/admin/staff", "Staff", P.STAFF_READ),
    ("/admin/messages", "Messages", P.SETTINGS_READ),
    ("/admin/settings", "Settings", P.SETTINGS_READ),
    ("/admin/audit", "Audit log", P.AUDIT_READ),
    ("/admin/tokens", "API tokens", P.TOKENS),
]


def _nav(me: Principal | None) -> list[tuple[str, str]]:
    return [(href, label) for href, label, p in SECTIONS if me is not None and allowed(me, p)]


def _session_id(request: Request) -> str:
    sid, _ = presented_session(request)
    return sid or ""


def _signed_in(out: TokenOut, to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    set_session_cookie(response, out)
    return response


def _next_page(out: TokenOut) -> str:
    return {"second_factor": "/admin/login/code", "enrol": "/admin/account"}.get(
        out.stage, "/admin/"
    )


async def form_token(request: Request) -> str:
    return (await staff_session(request, enrolling=True)).csrf


def first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "form"
    return f"{field}: {error['msg']}"


def validated(model: Any, values: dict[str, Any], says: dict[str, str] | None = None) -> Any:
    """`values` as `model`, or BadRequest with the sentence `says` has for the first wrong field
    (a field it has none for: the schema's own words)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        raise BadRequest((says or {}).get(field) or first_problem(exc)) from None


async def acted(
    session: AsyncSession, action: Callable[[], Awaitable[None]],
    refused: Callable[[AppError], Awaitable[Response]], done: str,
) -> Response:  # fmt: skip
    """Runs a page's change: refused (an AppError), its work is rolled back, after-commit work
    included, and `refused` shows the page again with why; done, back to `done` (a redirect, so
    a reload does not post again)."""
    try:
        await action()
    except AppError as exc:
        await roll_back(session)
        return await refused(exc)
    return RedirectResponse(done, status_code=303)
