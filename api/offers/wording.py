"""The line every offer ends with, in the customer's language (English when unknown)."""

from __future__ import annotations

OPT_OUT = {
    "en": "STOP to {to} to stop offers",
    "sw": "Tuma ACHA kwa {to} kusitisha ofa",
}


def offer_body(text: str, stop_to: str, language: str | None) -> str:
    line = OPT_OUT.get(language or "en", OPT_OUT["en"]).format(to=stop_to)
    return f"{text}\n{line}"
