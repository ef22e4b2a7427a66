"""Each ISP's sending rate: at most `tenant.message_rate_per_minute` messages a minute on each
channel. A burst beyond it (a promotion, a thousand usage warnings, purchases someone scripted to
pump SMS) is not refused: the messages over the rate go back to the queue, their attempt not
counted, due at the next minute, when the outbox sweep sends them. One-time codes never wait
(a person is at a login form) and platform messages are the platform's own.

The count is a Redis counter per ISP, channel and clock minute, shared by every worker and API
process; when Redis cannot be reached the message goes out (a lost counter must not stop an ISP's
customers hearing about their payment)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy import RowMapping

from api.security import get_redis

log = logging.getLogger(__name__)
WINDOW = 60  # seconds
UNPACED = frozenset({"otp"})  # purposes that never wait


async def take(tenant_id: int, channel: str, wanted: int, rate: int) -> int:
    """How many of `wanted` messages may go now (the rest wait for the next window)."""
    window = int(time.time()) // WINDOW
    key = f"message-rate:{tenant_id}:{channel}:{window}"
    redis = get_redis()
    try:
        total = await redis.incrby(key, wanted)
        if total == wanted:
            await redis.expire(key, 2 * WINDOW)
        allowed = max(0, min(wanted, rate - (total - wanted)))
        if allowed < wanted:  # what waits is not counted: the next window counts it
            await redis.decrby(key, wanted - allowed)
    except RedisError:
        log.warning("message rate of ISP %s not checked: Redis unavailable", tenant_id)
        return wanted
    return allowed


def next_window() -> datetime:
    """When the next window opens (the messages held now are due then)."""
    start = (int(time.time()) // WINDOW + 1) * WINDOW
    return datetime.fromtimestamp(start, UTC) + timedelta(milliseconds=50)


async def split(rows: Sequence[RowMapping]) -> tuple[list[RowMapping], list[RowMapping]]:
    """(rows that may go now, rows that wait), in their order, per ISP and channel."""
    groups: dict[tuple[int, str], list[RowMapping]] = {}
    go: list[RowMapping] = []
    for row in rows:
        if row["tenant_id"] is None or row["purpose"] in UNPACED:
            go.append(row)
        else:
            groups.setdefault((row["tenant_id"], row["channel"]), []).append(row)
    wait: list[RowMapping] = []
    for (tenant_id, channel), group in groups.items():
        allowed = await take(tenant_id, channel, len(group), group[0]["rate"])
        go += group[:allowed]
        wait += group[allowed:]
    return go, wait
