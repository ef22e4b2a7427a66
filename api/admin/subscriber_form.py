"""The subscriber form (add and change): what a person typed, turned into the API's fields, and
every refusal turned into a sentence next to the field to fix. Shared by api.admin.subscribers'
create and edit pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from api.errors import AppError, BadRequest

NAIROBI = ZoneInfo("Africa/Nairobi")
FIELDS = ("kind", "username", "password", "name", "phone", "zone_id", "router_id", "plan_id",
          "latitude", "longitude", "ip_address", "mac", "due_on")  # fmt: skip
_INTS = ("zone_id", "router_id", "plan_id")
_FLOATS = ("latitude", "longitude")
# A service's refusal names what to fix in words; which field it is about.
_ABOUT = (
    ("username", "username"),
    ("IP address", "ip_address"),
    ("IP pools", "ip_address"),
    ("MAC", "mac"),
    ("zone", "zone_id"),
    ("router", "router_id"),
    ("monthly plan", "plan_id"),
    ("ip_address and mac", "ip_address"),
)


class FormProblem(BadRequest):
    """A refusal about one field of the form."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


def values(form: dict[str, str], *, editing: bool) -> dict[str, Any]:
    """The API's fields from the form's text: empty is none (on a change: cleared, for the
    fields that may be empty; a blank password keeps the current one, and a field the form did
    not send at all stays as it is)."""
    out: dict[str, Any] = {}
    for key in FIELDS:
        if editing and key not in form:
            continue  # not on this form: left as it is
        text = form.get(key, "").strip()
        if key == "password" and not text:
            continue
        if key in _INTS:
            if text and not text.isdigit():
                raise FormProblem(key, "Choose one from the list")
            out[key] = int(text) if text else None
        elif key in _FLOATS:
            try:
                out[key] = float(text) if text else None
            except ValueError:
                raise FormProblem(key, "must be a number like -1.2921 or 36.8219") from None
        elif key == "due_on":
            if text:
                out["due_at"] = _due(text)
        else:
            out[key] = text or None
    if out.get("kind") is None and not editing:
        out["kind"] = "pppoe"
    if editing and not out:
        raise FormProblem("form", "Nothing to save: change a field first")
    if out.get("plan_id") is None and not editing:
        raise FormProblem("plan_id", "Choose a monthly plan")
    return out


def _due(text: str) -> datetime:
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise FormProblem("due_on", "must be a date like 2026-01-31") from None
    return day.replace(tzinfo=NAIROBI)


def problem(exc: ValidationError) -> FormProblem:
    """The schema's first refusal, on its field ("form" for one about several fields)."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "form"
    message = str(error["msg"]).removeprefix("Value error, ")
    if field == "form" and "static client" in message:
        field = "ip_address"
    if field == "due_at":
        field = "due_on"
    return FormProblem(field, message)


def field_of(exc: AppError) -> str:
    """The field a service's refusal is about ("form" when it names none)."""
    if isinstance(exc, FormProblem):
        return exc.field
    return next((f for words, f in _ABOUT if words in exc.detail), "form")


def typed(subscriber: Any, zone_default: int | None = None) -> dict[str, str]:
    """A subscriber's fields as the form shows them (the edit page)."""
    if subscriber is None:
        return {"kind": "pppoe", "zone_id": str(zone_default or "")}
    shown = {
        key: "" if getattr(subscriber, key) is None else str(getattr(subscriber, key))
        for key in FIELDS
        if key not in ("password", "due_on")
    }
    if subscriber.ip_address is not None:
        shown["ip_address"] = str(getattr(subscriber.ip_address, "ip", subscriber.ip_address))
    shown["due_on"] = subscriber.due_at.astimezone(NAIROBI).strftime("%Y-%m-%d")
    return shown
