"""Quiet hours: an ISP's promotions wait from one hour to another, East Africa Time (EAT,
UTC+3 all year: no daylight saving, so a day is always 24 hours). The span may wrap midnight
(21 -> 7: from 21:00 to 07:00 the next morning); from == to is an empty span, no quiet hours
(never "all day": that would hold every offer for ever). Hours are whole: 21 -> 7 is quiet at
21:00:00 and no longer at 07:00:00. Only promotions wait: receipts, warnings, one-time codes and
staff alerts are urgent and go out at any hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

EAT = ZoneInfo("Africa/Nairobi")
# Message purposes held by quiet hours (and skipped once their recipient opts out).
PROMOTIONAL = frozenset({"offer"})


def is_quiet(hour: int, start: int | None, end: int | None) -> bool:
    """Whether the EAT hour `hour` (0-23) falls in the quiet hours from `start` to `end`."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def quiet_until(now: datetime, start: int | None, end: int | None) -> datetime | None:
    """When the quiet hours holding `now` (an aware time) end; None when `now` is not quiet."""
    local = now.astimezone(EAT)
    if not is_quiet(local.hour, start, end):
        return None
    assert end is not None  # noqa: S101 - is_quiet is False without both hours
    ends = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends
