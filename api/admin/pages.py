"""The ISP's dashboard, on its own address: <isp>.<base_domain>/admin/.

Server-rendered Jinja pages over the same services as the JSON API (never HTTP to ourselves),
so a rule holds the same in both. The session is the staff one (api.staff_sessions) in its
HttpOnly cookie; every form carries the session's CSRF token (api.csrf), and the forms shown
before anyone is signed in, a token of their own in a SameSite=Strict cookie. A page asked for
without a session leads to the sign-in page; a login that must set up a second factor, to its
account page; a page the role may not open, to a page saying why. Every asset is served from
here (no CDN); the only script is static/admin.js (the Content-Security-Policy allows no other).

One module a section (signin, account, staff, tokens, routers, vouchers, plans, promos, sessions,
payments, settings with its SMS page, branding, audit), on what they share in api.admin.web;
this one installs them. Pages are in English or Kiswahili, as each browser chooses
(api.admin.language)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from api.admin import (
    account,
    audit,
    branding,
    language,
    live,
    messages,
    network,
    offers,
    outages,
    payments,
    plans,
    promos,
    routers,
    sessions,
    settings,
    signin,
    staff,
    subscribers,
    tokens,
    vouchers,
    zones,
)
from api.admin.guard import EnrolFirst, PageRefused, SignInFirst
from api.admin.web import NO_STORE, NoIsp, static, templates
from api.errors import AppError

PAGES = (
    language,
    signin,
    account,
    live,
    staff,
    tokens,
    routers,
    outages,
    subscribers,
    zones,
    network,
    vouchers,
    plans,
    promos,
    sessions,
    payments,
    settings,
    messages,
    offers,
    branding,
    audit,
)


def install(app: Any) -> None:
    """The dashboard's routes, its static files, and what its pages answer instead of a JSON
    error: the sign-in page, the second-factor page, and a 404 page for an unknown ISP."""
    for module in PAGES:
        app.include_router(module.router)
    app.mount("/admin/static", static, name="admin-static")

    @app.exception_handler(SignInFirst)
    async def sign_in_first(request: Request, exc: SignInFirst) -> Response:
        return RedirectResponse("/admin/login", status_code=303)

    @app.exception_handler(EnrolFirst)
    async def enrol_first(request: Request, exc: EnrolFirst) -> Response:
        return RedirectResponse("/admin/account", status_code=303)

    # Beyond what a page shows itself (a form with what to fix), a dashboard page that fails
    # (another ISP's voucher: 404; an outage: 503) answers a page, not the API's JSON.
    json_answer = app.exception_handlers[AppError]

    @app.exception_handler(AppError)
    async def problem(request: Request, exc: AppError) -> Response:
        if not request.url.path.startswith("/admin/"):
            return await json_answer(request, exc)  # type: ignore[no-any-return]
        return templates.TemplateResponse(
            request, "problem.html", {"missing": exc.status_code == 404, "detail": exc.detail},
            status_code=exc.status_code, headers={**NO_STORE, **(exc.headers or {})},
        )  # fmt: skip

    @app.exception_handler(PageRefused)
    async def refused(request: Request, exc: PageRefused) -> Response:
        return templates.TemplateResponse(
            request, "refused.html", {"detail": exc.detail}, status_code=403, headers=NO_STORE
        )

    @app.exception_handler(NoIsp)
    async def no_isp(request: Request, exc: NoIsp) -> Response:
        return templates.TemplateResponse(request, "notfound.html", {}, status_code=404)
