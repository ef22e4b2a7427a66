"""Domain errors carry their HTTP status and a message a person can act on; handlers turn them
into JSON `{"detail": "..."}` (or a page on the captive portal) so bad input never becomes a 500,
and a database or Redis that cannot be reached becomes a 503 that says so."""

from __future__ import annotations

import errno
import html
import logging
import socket

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)


class AppError(Exception):
    status_code = 400
    default_detail = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers
        super().__init__(self.detail)


class BadRequest(AppError):
    status_code = 422
    default_detail = "Invalid input"


class Unauthorized(AppError):
    status_code = 401
    default_detail = "Not authenticated"

    def __init__(self, detail: str | None = None):
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403
    default_detail = "You are not allowed to do this"


class NotJudged:
    """Mixed into a refusal made before any password or code was checked (nothing pending, no
    code given): the login budgets give its attempt back (api.auth.limiter.judging)."""


class NothingToCheck(NotJudged, BadRequest):
    pass


class ProofMissing(NotJudged, Forbidden):
    pass


class NotFound(AppError):
    status_code = 404
    default_detail = "Not found"


class Conflict(AppError):
    status_code = 409
    default_detail = "Conflicts with existing data"


class TooManyRequests(AppError):
    status_code = 429
    default_detail = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int):
        self.retry_after = max(int(retry_after), 1)
        super().__init__(detail, headers={"Retry-After": str(self.retry_after)})


class ServiceUnavailable(AppError):
    status_code = 503
    default_detail = "Temporarily unavailable, try again"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # Services translate the constraints they expect; this is the safety net for a race or a
    # constraint nobody mapped yet, so the client gets a 409 instead of a 500.
    log.warning("unmapped integrity error: %s", exc)
    return JSONResponse({"detail": "This conflicts with existing data"}, status_code=409)


OUTAGE = "The service cannot reach its database or cache right now; please try again in a minute."
OUTAGE_SW = "Huduma haipatikani kwa sasa; tafadhali jaribu tena baada ya dakika moja."
RETRY_AFTER = "30"
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPIPE, errno.EADDRNOTAVAIL,
}  # fmt: skip
# Errors that mean "PostgreSQL or Redis is not there", whichever layer reports them: asyncpg
# while connecting, SQLAlchemy around a dropped connection or an exhausted pool, redis-py.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # narrowed by is_outage: ConnectionRefusedError, "Multiple exceptions: ..."
    sa.DBAPIError,  # narrowed by is_outage
    sa.TimeoutError,  # no pooled connection came free
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.TooManyConnectionsError,
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError):
        lost = isinstance(exc, sa.OperationalError | sa.InterfaceError)
        return lost or exc.connection_invalidated
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError):  # asyncio reports several failed addresses as one OSError
        return exc.errno in _NETWORK_ERRNOS or str(exc).startswith("Multiple exceptions")
    return isinstance(exc, OUTAGE_ERRORS)


def wants_html(path: str) -> bool:
    """The captive portal's pages answer errors with a page, the API with JSON."""
    return path.startswith("/hotspotportal") and not path.startswith("/hotspotportal/static")


def html_page(status: int, title: str, text: str, text_sw: str = "") -> HTMLResponse:
    """A small self-contained page (no script) for errors on the portal's HTML routes."""
    sw = f'<p lang="sw">{html.escape(text_sw)}</p>' if text_sw else ""
    body = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(text)}</p>{sw}</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


async def _outage(request: Request, exc: Exception) -> Response:
    if not is_outage(exc):
        raise exc  # a bug, not an outage: the 500 handler and the log take it
    log.error("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
    if wants_html(request.url.path):
        page = html_page(503, "Temporarily unavailable", OUTAGE, OUTAGE_SW)
        page.headers["Retry-After"] = RETRY_AFTER
        return page
    headers = {"Retry-After": RETRY_AFTER, "Cache-Control": "no-store"}
    return JSONResponse({"detail": OUTAGE}, status_code=503, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    for error in OUTAGE_ERRORS:
        app.add_exception_handler(error, _outage)


async def flush_mapping_violations(
    session: AsyncSession, messages: dict[str, str], error: type[AppError]
) -> None:
    """Flush; a violation of one of the named constraints becomes `error` with its message (any
    other integrity error propagates, and the app's handler answers 409)."""
    try:
        await session.flush()
    except IntegrityError as exc:
        message = messages.get(constraint_name(exc) or "")
        if message is None:
            raise
        raise error(message) from exc


def constraint_name(exc: IntegrityError) -> str | None:
    """The violated constraint's name as PostgreSQL reports it (asyncpg), if any."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if name:
            return str(name)
    return None
