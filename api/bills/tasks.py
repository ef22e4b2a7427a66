"""The worker's reminders and dunning for subscribers: every few minutes the sweep decides, per
subscriber, due date and day (the notification's unique key), a reminder N days before the due
date and a dunning notice on the ISP's chosen days after it (api/subscribers/sweeps.py); the
notifications dispatcher words and texts them. On a dunning day of an ISP that chose
`subscriber_dunning_stk`, the process that decided it then sends one M-Pesa prompt for the
amount due, after the commit: a key decided before returns nothing, so a second sweep (or a
second worker racing this one) prompts nobody again. A process that dies between the commit and
the prompt loses that day's prompt rather than asking twice; the next dunning day asks again."""

from __future__ import annotations

import logging
from typing import Any

from api.bills import service
from api.db import unit_of_work
from api.errors import AppError
from api.subscribers import sweeps

log = logging.getLogger(__name__)


async def remind_and_dun(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    """{"decided": n, "prompted": n}."""
    async with unit_of_work() as session:
        decided = await sweeps.decide_reminders(session)
    prompted = 0
    for row in decided:
        if row["event"] == "subscriber.overdue" and row["stk"]:
            prompted += await _prompt(row["tenant_id"], row["subscriber_id"])
    return {"decided": len(decided), "prompted": prompted}


async def _prompt(tenant_id: int, subscriber_id: int) -> int:
    try:
        await service.push(tenant_id, subscriber_id, None, None)
    except AppError as exc:  # no M-Pesa, a prompt to that phone already open, ...
        log.warning("dunning prompt to subscriber %s not sent: %s", subscriber_id, exc.detail)
        return 0
    except Exception:  # noqa: BLE001 - a provider outage: the next dunning day asks again
        log.exception("dunning prompt to subscriber %s not sent", subscriber_id)
        return 0
    return 1
