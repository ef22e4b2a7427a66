"""Pure ASGI middleware around every response: security headers and the request body cap.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses (Server-Sent Events, the portal's live
payment status) and streamed request bodies (the logo upload, Daraja hooks) pass untouched."""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.config import get_settings


# HTML we render ourselves: every script is a file of ours (no inline script, no eval). Styles
# keep 'unsafe-inline' because templates carry small <style> blocks (the ISP's colour, the
# print sheet); injected CSS cannot run code, and Jinja's autoescape keeps markup out anyway.
# form-action is left open on purpose: the portal logs a phone in by posting to its router.
# The API docs (api/openapi.py) add their one inline script by its hash.
def html_policy(*, scripts: str = "'self'", ancestors: str = "'none'") -> str:
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
        f"worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
    )


HTML_CSP = html_policy()
# The one page we let be framed: the dashboard's preview of the captive portal, inside the
# dashboard's own branding page. Framed only by its own origin (the ISP's own host: other ISPs
# are other origins), and sandboxed by its own policy as well as by the iframe's attribute: no
# script, no form, no popup, an opaque origin, even if the preview is opened on its own. The
# page it is shown in keeps frame-ancestors 'none', so the pair cannot be framed elsewhere.
FRAMED_BY_SELF = {
    "Content-Security-Policy": html_policy(scripts="'none'", ancestors="'self'") + "; sandbox",
    "X-Frame-Options": "SAMEORIGIN",
}
# JSON, images (SVG can carry script), manifests: nothing in them may load or run anything.
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"
ADMIN = "/admin"
FORMS = (ADMIN, "/account")  # pages that post forms to themselves
HSTS = "max-age=31536000"


class HttpMiddleware:
    """Pure ASGI middleware that acts on HTTP requests (`http()`); lifespan and the rest pass
    through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def hsts_applies(scope: Scope) -> bool:
    """Strict-Transport-Security outside development and test (production is behind TLS), and
    on any request that arrived over https. Never over plain http in development: a browser
    would then refuse http://localhost for a year."""
    return get_settings().environment == "production" or scope.get("scheme") == "https"


def policy_for(content_type: str) -> str:
    # A script's own policy binds what it may fetch (the service worker caches our assets).
    if content_type.startswith(("text/html", "text/javascript", "application/javascript")):
        return HTML_CSP
    return OTHER_CSP


class SecurityHeaders(HttpMiddleware):
    """CSP, nosniff, no framing, no referrer, HSTS where it applies; no Server header."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        hsts = hsts_applies(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                del headers["server"]  # uvicorn runs with --no-server-header; this is the net
                # A page that brings its own policy keeps it (the API docs: api/openapi.py).
                headers.setdefault(
                    "Content-Security-Policy",
                    policy_for(headers.get("content-type", "")),
                )
                headers["X-Content-Type-Options"] = "nosniff"
                # Never framed, but by the one page that says otherwise (FRAMED_BY_SELF).
                headers.setdefault("X-Frame-Options", "DENY")
                # The portal's URLs carry voucher codes (?voucher=, /v/<code>): no page of ours
                # tells another site where the visitor came from. The pages with forms (the
                # dashboard, the subscriber's /account) tell only their own site: under
                # no-referrer a browser sends its forms' POSTs with "Origin: null", which the
                # CSRF check (api.csrf) must refuse.
                headers["Referrer-Policy"] = (
                    "same-origin" if scope["path"].startswith(FORMS) else "no-referrer"
                )
                if hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyTooLarge(HTTPException):
    """Raised from receive() inside a route: FastAPI passes HTTPExceptions through its body
    parsing untouched, so the app's handler answers 413 (any other error there becomes 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes")


class BodyLimit(HttpMiddleware):
    """Refuses bodies above max_body_bytes with 413: at once when Content-Length says so, else
    while reading (chunked bodies have no length), before a route or a parser holds it all."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = get_settings().max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await too_large(limit, send)
            return
        received, started = 0, False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            # Read outside a route (a middleware buffering the body): answered here.
            if started:
                raise
            await too_large(limit, send)


async def too_large(limit: int, send: Send) -> None:
    await send_json(send, 413, {"detail": f"The request body is larger than {limit} bytes"})


async def send_json(send: Send, status: int, body: object) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
