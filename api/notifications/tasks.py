"""The worker's part: new notifications become messages within about half a second. The
dispatcher is a loop of its own in each worker process, not an arq cron job, so a queue of other
jobs (a fan-out of Disconnects, say) cannot delay a customer's warning; several workers share
the queue through SKIP LOCKED."""

from __future__ import annotations

import asyncio
import logging

from api.notifications import service

log = logging.getLogger(__name__)
PAUSE = 0.5  # seconds between looks at an empty queue


async def drain() -> dict[str, int]:
    """Every new notification, batch after batch (1,000 vouchers crossing at once)."""
    total = {"done": 0, "skipped": 0}
    while True:
        counts = await service.dispatch()
        for key, value in counts.items():
            total[key] += value
        if sum(counts.values()) < service.BATCH:
            return total


async def run_forever() -> None:
    while True:
        try:
            await drain()
        except asyncio.CancelledError:
            raise
        except Exception:  # a database outage: try again, never die
            log.exception("notifications: dispatch failed; retrying")
            await asyncio.sleep(5)
        await asyncio.sleep(PAUSE)
