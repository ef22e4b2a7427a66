"""Domain errors carry their HTTP status and a message a person can act on; handlers turn them
into JSON `{"detail": "..."}` so bad input never becomes a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(IntegrityError, _integrity_error)


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
