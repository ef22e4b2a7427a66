"""The subscriber's self-care page at <isp>.<base-domain>/account: sign in with the PPPoE
username and password, see the plan, due date, balance, usage this month and payments, pay by an
M-Pesa prompt (its live status through the portal's purchase stream) and change the PPPoE
password. Its session is its own (api/selfcare/sessions.py); every form carries its CSRF token."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError

from api import csrf
from api.bills import service as bills
from api.config import get_settings
from api.db import unit_of_work
from api.deps import ClientMeta
from api.errors import AppError, Forbidden
from api.hotspot.pages import NO_STORE, IspDep, _language, templates
from api.hotspot.schemas import Isp
from api.hotspot.strings import LANGUAGES
from api.payments import repository as payments_repository
from api.phones import normalize_phone
from api.selfcare import service, sessions
from api.selfcare.strings import strings
from api.subscribers.schemas import Password
from api.tenancy import public

router = APIRouter(
    prefix="/account",
    include_in_schema=False,
    dependencies=[Depends(public("the subscriber's self-care: its own session, by its cookie"))],
)
_PASSWORD = TypeAdapter(Password)
NAIROBI = ZoneInfo("Africa/Nairobi")
Text = Annotated[str, Form(max_length=200)]


def _cookie(response: Response, session_id: str) -> None:
    response.set_cookie(sessions.COOKIE, session_id, max_age=sessions.ABSOLUTE, path="/account",
                        httponly=True, samesite="lax",
                        secure=get_settings().environment == "production")  # fmt: skip


async def _page(request: Request, isp: Isp, account: sessions.AccountSession | None,
                status: int = 200, **extra: Any) -> HTMLResponse:  # fmt: skip
    lang = _language(request, isp)
    context: dict[str, Any] = {"isp": isp, "t": strings(lang), "lang": lang, "tz": NAIROBI,
                               "base": "/hotspotportal", "errors": {}, **extra}  # fmt: skip
    if account is not None:
        async with unit_of_work() as session:
            context["me"] = await service.overview(session, isp.id, account.subscriber_id)
            row = await payments_repository.settings_row(session, isp.id)
        context["csrf"] = account.csrf
        context["paybill"] = (row.c2b_shortcode or row.shortcode) if row is not None and \
            row.account_type == "paybill" else None  # fmt: skip
    response = templates.TemplateResponse(request, "account.html", context, status_code=status,
                                          headers=NO_STORE)  # fmt: skip
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response


async def _account(request: Request, isp: Isp) -> sessions.AccountSession | None:
    return await sessions.load(request.cookies.get(sessions.COOKIE), isp.id)


async def _signed_in(request: Request, isp: Isp) -> sessions.AccountSession | None:
    """The session of a state-changing request, with its CSRF token checked (403 otherwise);
    None when it has ended (the form then answers with the sign-in page: _ended)."""
    account = await _account(request, isp)
    if account is not None:
        await csrf.check(request, account.csrf)
    return account


async def _ended(request: Request, isp: Isp) -> HTMLResponse:
    """A form posted after the session ended: the sign-in page, saying so (401)."""
    ended = strings(_language(request, isp))["session_ended"]
    return await _page(request, isp, None, 401, login_error=ended)


@router.get("")
async def home(request: Request, isp: IspDep) -> HTMLResponse:
    return await _page(request, isp, await _account(request, isp))


@router.post("/login")
async def login(request: Request, isp: IspDep, meta: ClientMeta, username: Text = "",
                password: Text = "") -> Response:  # fmt: skip
    """Sign in; the login form needs no session yet, so its CSRF defence is the same-origin
    check and the SameSite cookie (a forged login only signs someone into their own account)."""
    if not csrf._same_origin(request):
        raise Forbidden("This request came from another site; reload the page")
    try:
        async with unit_of_work() as session:
            subscriber_id = await service.login(session, isp.id, username, password, meta.ip)
    except AppError as exc:
        return await _page(request, isp, None, exc.status_code, login_error=exc.detail,
                           username=username)  # fmt: skip
    await sessions.end(request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/account", status_code=303)
    _cookie(response, await sessions.start(isp.id, subscriber_id))
    return response


@router.post("/logout")
async def logout(request: Request, isp: IspDep) -> Response:
    if await _signed_in(request, isp) is None:
        return await _ended(request, isp)
    await sessions.end(request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/account", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/account")
    return response


@router.post("/pay")
async def pay(request: Request, isp: IspDep, phone: Text = "") -> Response:
    """An M-Pesa prompt for the amount due to `phone`; the page follows it live."""
    account = await _signed_in(request, isp)
    if account is None:
        return await _ended(request, isp)
    try:
        number = normalize_phone(phone)
    except ValueError:
        problem = strings(_language(request, isp))["bad_phone"]
        return await _page(request, isp, account, 422, phone=phone, errors={"phone": problem})
    try:
        purchase = await bills.push(isp.id, account.subscriber_id, number, None)
    except AppError as exc:
        return await _page(request, isp, account, exc.status_code, phone=phone,
                           errors={"phone": exc.detail})  # fmt: skip
    return await _page(request, isp, account, 202, phone=phone, purchase=purchase)


@router.post("/password")
async def change_password(request: Request, isp: IspDep, meta: ClientMeta, current: Text = "",
                          new: Text = "", again: Text = "") -> Response:  # fmt: skip
    account = await _signed_in(request, isp)
    if account is None:
        return await _ended(request, isp)
    t = strings(_language(request, isp))
    errors: dict[str, str] = {}
    try:
        _PASSWORD.validate_python(new)
    except ValidationError as exc:
        errors["new"] = t["password_rules"] + " (" + exc.errors()[0]["msg"].removeprefix(
            "Value error, ") + ")"  # fmt: skip
    if not errors and new != again:
        errors["again"] = t["password_mismatch"]
    if not errors:
        try:
            async with unit_of_work() as session:
                await service.change_password(session, isp.id, account.subscriber_id, current,
                                              new, meta)  # fmt: skip
        except service.LoginRefused:
            errors["current"] = t["password_current_wrong"]
    if errors:
        return await _page(request, isp, account, 422, errors=errors)
    # A new session id after the change: a copy of the old cookie stops working.
    await sessions.end(request.cookies.get(sessions.COOKIE))
    new_id = await sessions.start(isp.id, account.subscriber_id)
    response = await _page(request, isp, await sessions.load(new_id, isp.id), 200, changed=True)
    _cookie(response, new_id)
    return response
