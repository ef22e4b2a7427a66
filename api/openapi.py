"""The OpenAPI document, with the error contract every route actually keeps.

Every error answer is `{"detail": ...}`: a sentence (domain errors such as "No such plan", and
domain 422s like "Daraja refused these credentials") or, for input that does not fit the schema,
a list of `{loc, msg, type}` (FastAPI's validation errors, NUL characters, non-finite numbers).
FastAPI documents 422 as the list only; here 422 and every other client error (4XX) and 503
(database or cache unreachable) name one schema that allows both, so generated clients parse
what they get."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

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
