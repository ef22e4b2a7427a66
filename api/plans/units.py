"""Speeds, durations and sizes as people write them, and the Mikrotik-Rate-Limit string."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RATE_UNITS = {"k": 1, "m": 1000, "g": 1_000_000}  # to kbit/s
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}  # fmt: skip
_NUMBER_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def _rate(kbps: int) -> str:
    return f"{kbps // 1000}M" if kbps % 1000 == 0 else f"{kbps}k"


def rate_limit_string(upload_kbps: int, download_kbps: int) -> str:
    """Mikrotik-Rate-Limit "rx/tx" as the router sees it: rx is what the client uploads, tx
    what it downloads. 2000/4000 kbps -> "2M/4M"; 512/1500 -> "512k/1500k"."""
    return f"{_rate(upload_kbps)}/{_rate(download_kbps)}"


def _parse(text: str, units: dict[str, int], what: str, default_unit: str) -> int:
    match = _NUMBER_UNIT.match(text)
    unit = (match.group(2) if match else "").lower() or default_unit
    if match is None or unit not in units:
        raise ValueError(f"invalid {what} {text!r}; use e.g. {_EXAMPLES[what]}")
    try:
        value = Decimal(match.group(1)) * units[unit]
    except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
        raise ValueError(f"invalid {what} {text!r}") from None
    if value != value.to_integral_value() or value <= 0:
        raise ValueError(f"invalid {what} {text!r}: must be a positive whole number of units")
    return int(value)


_EXAMPLES = {
    "duration": "30m, 1h, 1d, 1w",
    "rate": "512k, 2M, 1G",
    "size": "500MB, 1GB, 1GiB",
}


def parse_duration(text: str) -> int:
    """Seconds in "90s", "30m", "1h", "1d", "1w" (a bare number is seconds)."""
    return _parse(text, _DURATION_UNITS, "duration", "s")


def parse_rate(text: str) -> int:
    """kbit/s in "512k", "2M", "1.5M", "1G" (a bare number is kbit/s)."""
    return _parse(text, _RATE_UNITS, "rate", "k")


def parse_size(text: str) -> int:
    """Bytes in "500MB", "1GB" (decimal) or "1GiB" (binary); a bare number is bytes."""
    return _parse(text, _SIZE_UNITS, "size", "b")
