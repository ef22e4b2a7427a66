"""The worker's part: new notifications become messages within about a second."""

from __future__ import annotations

from typing import Any

from api.notifications import service


async def dispatch_notifications(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    total = {"done": 0, "skipped": 0}
    while True:  # drain a burst (1,000 vouchers crossing at once) before the next tick
        counts = await service.dispatch()
        for key, value in counts.items():
            total[key] += value
        if sum(counts.values()) < service.BATCH:
            return total
