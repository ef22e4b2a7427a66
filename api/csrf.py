"""Cross-site request forgery: a request that changes something and is authenticated by the
session cookie must carry the session's own CSRF token, in the `X-CSRF-Token` header (scripts)
or a `csrf_token` form field (plain forms). A bearer-token request needs none: another site
cannot make a browser send an Authorization header.

Defence in depth: such a request whose Origin (or, without one, Referer) names another host is
refused even with a token. SameSite=Lax on the cookie already keeps most cross-site POSTs from
carrying it."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import Request

from api.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADER = "x-csrf-token"
FIELD = "csrf_token"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _same_origin(request: Request) -> bool:
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        # No Origin and no Referer (privacy settings, old clients): the token decides.
        return source != "null"
    host = request.headers.get("host", "").lower()
    return urlsplit(source).netloc.lower() == host


async def _sent_token(request: Request) -> str:
    if token := request.headers.get(HEADER):
        return token
    if request.headers.get("content-type", "").split(";")[0].strip() in FORM_TYPES:
        form = await request.form()  # cached by Starlette: the route reads the same form
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check(request: Request, expected: str) -> None:
    """Raises 403 unless a state-changing request carries `expected` and comes from this site."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request):
        raise Forbidden("This request came from another site; reload the page and try again")
    sent = await _sent_token(request)
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("Missing or wrong CSRF token; reload the page and try again")
