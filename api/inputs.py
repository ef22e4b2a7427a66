"""Input that must never reach a route, and 422s that are always valid, small JSON.

Refused before any route runs, with the same 422 shape FastAPI gives for validation errors
(`{"detail": [{"loc", "msg", "type"}]}`) or, on the captive portal, a page:
- a NUL character (U+0000) in the path, a query parameter, a JSON string or key, or a form
  field: PostgreSQL text cannot hold it, so it would otherwise fail in the database as a 500;
- NaN, Infinity or a number too large for a float in a JSON body: JSON has no such numbers,
  Python's json reads them anyway, and they cannot be written back into a JSON answer."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.errors import html_page, wants_html
from api.middleware import HttpMiddleware, send_json

NUL = "\x00"
NUL_MESSAGE = "contains a NUL character (\\u0000), which is not allowed"
MAX_ECHO = 100  # characters of a wrong value a 422 repeats back
# Daraja's callbacks are stored raw and judged by their own parser (api/payments/wire.py).
UNGUARDED_BODIES = ("/hooks/",)
ADMIN_STATIC = "/admin/static/"

Problem = dict[str, Any]


class InputGuard(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = url_problem(scope)
        kind = body_kind(scope)
        if problem is None and kind is not None:
            body = await read_body(receive)  # BodyLimit, outside, caps it
            problem = body_problem(body, kind)
            receive = replay(body, receive)
        if problem is None:
            await self.app(scope, receive, send)
        elif wants_html(scope["path"]):
            page = html_page(422, "Invalid input", "Something you sent is not allowed here.")
            await page(scope, receive, send)
        elif scope["path"].startswith("/admin/") and not scope["path"].startswith(ADMIN_STATIC):
            # The dashboard's pages answer a person, with what to fix (a search box's text, say).
            where = " ".join(str(part) for part in problem["loc"])
            page = html_page(422, "Invalid input", f"The {where} {problem['msg']}: remove it.")
            await page(scope, receive, send)
        else:
            await send_json(send, 422, {"detail": [problem]})


def url_problem(scope: Scope) -> Problem | None:
    if NUL in scope["path"]:
        return nul_problem(["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            return nul_problem(["query", name.replace(NUL, "")])
    return None


def body_kind(scope: Scope) -> str | None:
    """'json' or 'form' for bodies worth checking (FastAPI reads a body without a Content-Type
    as JSON, so that one too)."""
    if scope["method"] in ("GET", "HEAD", "OPTIONS") or scope["path"].startswith(UNGUARDED_BODIES):
        return None
    content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1").lower()
    media = content_type.split(";")[0].strip()
    if not media or media == "application/json" or media.endswith("+json"):
        return "json"
    return "form" if media == "application/x-www-form-urlencoded" else None


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that gives the route the body already read, then the client's next event."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return again


def body_problem(body: bytes, kind: str) -> Problem | None:
    if kind == "form":
        fields = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        bad = next((name for name, value in fields if NUL in name or NUL in value), None)
        return None if bad is None else nul_problem(["body", bad.replace(NUL, "")])
    if not body:
        return None
    try:
        data = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NotFinite as exc:
        return {"loc": ["body"], "msg": str(exc), "type": "finite_number"}
    except RecursionError:  # [[[[...: Python's parser gives up before JSON does
        return {"loc": ["body"], "msg": "JSON nested too deeply", "type": "json_depth"}
    except ValueError:
        return None  # not JSON (or not UTF-8): FastAPI's own 422 says where
    loc = nul_location(data, ["body"])
    return None if loc is None else nul_problem(loc)


class _NotFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NotFinite(f"{name} is not a JSON number; numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text[:20]} is too large a number")
    return value


def nul_location(value: Any, loc: list[str | int]) -> list[str | int] | None:
    """Where the first NUL is in parsed JSON (a key or a string value), or None."""
    if isinstance(value, str):
        return loc if NUL in value else None
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        if isinstance(key, str) and NUL in key:
            return [*loc, key.replace(NUL, "")]
        found = nul_location(item, [*loc, key])
        if found is not None:
            return found
    return None


def nul_problem(loc: list[str | int]) -> Problem:
    name = ".".join(str(part) for part in loc[1:]) or loc[0]
    return {"loc": loc, "msg": f"{name} {NUL_MESSAGE}", "type": "string_nul"}


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, made safe to send: the wrong value is repeated only when it is a short
    scalar (never a whole body, never NaN), and `ctx` only as plain values."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": [safe_error(e) for e in exc.errors()]}, status_code=422)


def safe_error(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": str(error.get("type", "value_error")),
        "loc": [p if isinstance(p, int) else str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
    }
    if "input" in error and _echoable(error["input"]):
        value = error["input"]
        out["input"] = value[:MAX_ECHO].replace(NUL, "") if isinstance(value, str) else value
    ctx = error.get("ctx")
    if isinstance(ctx, dict):
        out["ctx"] = {str(k): _plain(v) for k, v in ctx.items()}
    return out


def _echoable(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int):
        return abs(value) < 10**18  # a 5,000-digit integer cannot even be printed
    return value is None or isinstance(value, str)


def _plain(value: Any) -> Any:
    if _echoable(value) and not isinstance(value, str):
        return value
    return str(value)[:MAX_ECHO].replace(NUL, "")
