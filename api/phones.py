"""Kenyan mobile numbers as we store them (2547XXXXXXXX, 2541XXXXXXXX: what Daraja wants and
sends), from however people type them. Below payments (pushes, C2B account numbers) and
vouchers (finding a customer's vouchers by phone), so neither imports the other for it."""

from __future__ import annotations

import re

_PHONE = re.compile(r"^(?:\+?254|0)?([17]\d{8})$")
_SEPARATORS = re.compile(r"[\s\-()]")


def normalize_phone(text: str) -> str:
    """A Safaricom number as Daraja wants it: 2547XXXXXXXX or 2541XXXXXXXX. Accepts 07.., 01..,
    7.., +254.., 254.., with spaces or dashes."""
    match = _PHONE.match(_SEPARATORS.sub("", text))
    if match is None:
        raise ValueError(f"not a Kenyan mobile number: {text!r}; use e.g. 0712345678")
    return "254" + match.group(1)


def phone_or_none(text: str) -> str | None:
    """normalize_phone(), or None when the text is no phone number."""
    try:
        return normalize_phone(text)
    except ValueError:
        return None
