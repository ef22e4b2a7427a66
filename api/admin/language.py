"""The dashboard in English or Kiswahili (issue 14). Each person chooses with a link in the
navbar; the choice is a cookie of this browser's (no account setting: the sign-in pages need
it before anyone is known). Without one, the browser's Accept-Language decides, and English
when it says nothing we speak.

Templates mark their text `{{ _("English text") }}`, values as %-placeholders
(`_("Sign in to %(name)s", name=isp.name)`); the catalogue, lang/sw.json, maps the English text
to the Swahili. A plain JSON file rather than gettext's .po/.mo: one language, no compile step,
and tests/test_admin_language.py keeps it in step with the templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse
from starlette.routing import Match

from api.config import get_settings
from api.errors import NotFound
from api.tenancy import public

LANGUAGES = ("en", "sw")
COOKIE = "mnetifi_lang"
YEAR = 365 * 24 * 3600
HOME = "/admin/"
LANG_DIR = Path(__file__).resolve().parent / "lang"
# English text -> Swahili text; English needs no catalogue (the text is its own key).
CATALOGUES: dict[str, dict[str, str]] = {
    "sw": json.loads((LANG_DIR / "sw.json").read_text(encoding="utf-8")),
}
_Q = re.compile(r"\s*q\s*=\s*(\S*)\s*$")

Gettext = Callable[..., str]

router = APIRouter(prefix="/admin", include_in_schema=False)


def chosen(request: Request) -> str:
    """The language of this request's pages: the browser's choice, else its Accept-Language."""
    saved = request.cookies.get(COOKIE)
    if saved in LANGUAGES:
        return saved
    return preferred(request.headers.get("accept-language", ""))


def preferred(header: str) -> str:
    """The language of ours the Accept-Language header ranks highest (ties: the first named);
    English when it names neither. "sw-KE" counts as "sw"; a wildcard chooses nothing."""
    best, best_q = "en", 0.0
    for part in header.split(",")[:32]:
        tag, *params = part.split(";")
        primary = tag.strip().lower().split("-")[0]
        weights = [m.group(1) for p in params if (m := _Q.match(p))]
        try:
            q = float(weights[0]) if weights else 1.0
        except ValueError:  # a weight that is no number: the entry means nothing
            continue
        if primary in LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def translator(lang: str) -> Gettext:
    """The `_` of a language: the catalogue's text for the English, or the English itself."""
    table = CATALOGUES.get(lang, {})

    def gettext(text: str, **values: Any) -> str:
        out = table.get(text, text)
        return out % values if values else out

    return gettext


def template_context(request: Request) -> dict[str, Any]:
    """What every dashboard template gets (a context processor of web.templates): `_`, the
    page's language for <html lang>, and where the language link should come back to."""
    lang = chosen(request)
    here = request.url.path
    if request.method == "GET" and request.url.query:
        here += "?" + request.url.query
    return {"_": translator(lang), "lang": lang, "here": here}


def _is_page(request: Request, path: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


def back_to(request: Request, target: str) -> str:
    """Where the switch goes back to: a dashboard address of this site only (never an open
    redirect: no scheme, host, backslash or control character; else the dashboard's home). A
    page that answered a form (POST only, as /admin/staff/invite) comes back as the page above
    it that has one (/admin/staff)."""
    if (
        not (target == "/admin" or target.startswith(HOME))
        or "\\" in target
        or any(ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return HOME
    path, _, query = target.partition("?")
    while not _is_page(request, path):
        path, query = path.rstrip("/").rpartition("/")[0], ""
        if path in ("", "/admin"):
            return HOME
    return f"{path}?{query}" if query else path


@router.get(
    "/language/{lang}",
    dependencies=[Depends(public("choosing the dashboard's language: a preference of a browser"))],
)
async def choose(
    request: Request, lang: str, to: Annotated[str, Query(alias="next", max_length=2000)] = HOME
) -> RedirectResponse:
    if lang not in LANGUAGES:
        raise NotFound("No such language: en or sw")
    response = RedirectResponse(back_to(request, to), status_code=303)
    response.set_cookie(
        COOKIE, lang, max_age=YEAR, path="/admin", httponly=True, samesite="lax",
        secure=get_settings().environment == "production",
    )  # fmt: skip
    return response
