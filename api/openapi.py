"""The OpenAPI document, with the error contract every route actually keeps.

Every error answer is `{"detail": ...}`: a sentence (domain errors such as "No such plan", and
domain 422s like "Daraja refused these credentials") or, for input that does not fit the schema,
a list of `{loc, msg, type}` (FastAPI's validation errors, NUL characters, non-finite numbers).
FastAPI documents 422 as the list only; here 422 and every other client error (4XX) and 503
(database or cache unreachable) name one schema that allows both, so generated clients parse
what they get.

Its viewer, Swagger UI at /docs, loads its script and style from us, not from a CDN: an ISP's
network may have no way out, and there a CDN's page is blank. The files are the fastapi-offline
package's copy of swagger-ui-dist (only its static folder is used). FastAPI's Swagger UI page
starts the UI from one inline <script>: rather than allow inline script, the page's policy names
its own inline scripts by their SHA-256, so the docs keep the strict policy of every page of
ours. There is no ReDoc page: ReDoc always loads its logo from its vendor's CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.middleware import html_policy
from api.tenancy import public

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "title": "Detail",
            "description": "A sentence for people, or one entry per wrong input.",
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
            ],
        }
    },
}
COMMON = {
    "4XX": "Refused: `detail` says why (422: a sentence, or one entry per wrong input).",
    "503": "The database or cache cannot be reached; retry after Retry-After seconds.",
}
JSON_ERROR = {"application/json": {"schema": ERROR_REF}}


def build(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    components.setdefault("ValidationError", _validation_error_schema())
    # Kept under FastAPI's name so existing references stay valid; the same shape as Error.
    components["HTTPValidationError"] = ERROR_SCHEMA | {"title": "HTTPValidationError"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in COMMON.items():
                responses.setdefault(code, {"description": description, "content": JSON_ERROR})
    return schema


def _validation_error_schema() -> dict[str, Any]:
    """Only needed when no route has a 422 of FastAPI's (then FastAPI omits the schema)."""
    return {
        "title": "ValidationError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    }


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_docs(app)


DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"  # swagger-ui-bundle.js, swagger-ui.css, favicon.png
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
# Swagger UI otherwise sends the document's URL to validator.swagger.io for a badge.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def with_policy(page: HTMLResponse) -> HTMLResponse:
    """The strict HTML policy, with the page's own inline scripts allowed by their hash."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in INLINE_SCRIPT.findall(bytes(page.body).decode())
    ]
    scripts = " ".join(["'self'", *hashes])
    page.headers["Content-Security-Policy"] = html_policy(scripts=scripts)
    return page


def install_docs(app: FastAPI) -> None:
    """The FastAPI app is made with docs_url=None and redoc_url=None; this replaces the first."""
    app.mount(ASSETS_URL, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs")
    declared = [Depends(public("the API's documentation: the same for everyone, no ISP's data"))]
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    @app.get(DOCS_URL, include_in_schema=False, dependencies=declared)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )
        return with_policy(page)

    @app.get(oauth2_redirect_url, include_in_schema=False, dependencies=declared)
    async def swagger_ui_redirect() -> HTMLResponse:
        return with_policy(get_swagger_ui_oauth2_redirect_html())
