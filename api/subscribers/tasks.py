"""arq jobs for subscribers: acting on expiries (a Disconnect to each live session still in the
normal state, so the router logs it in again into the expired pool), decided by a unique key in
its own transaction: running the job twice, or on two workers at once, acts once. (Reminders
and dunning: api/bills/tasks.py, since a dunning day may send an M-Pesa prompt.)"""

from __future__ import annotations

import logging
from typing import Any

from api.db import unit_of_work
from api.sessions import control
from api.subscribers import sweeps

log = logging.getLogger(__name__)


async def sweep_expiries(ctx: dict[str, Any] | None = None) -> int:
    """Every few seconds: the Disconnects planned (sent by the CoA machinery after commit)."""
    planned = 0
    async with unit_of_work() as session:
        for row in await sweeps.decide_expiries(session):
            ids = await control.disconnect_subscriber(
                session, row["tenant_id"], row["subscriber_id"], reason="expired", actor="worker"
            )
            await sweeps.record_sessions(session, row["id"], len(ids))
            planned += len(ids)
    if planned:
        log.info("expired subscribers: %d session(s) disconnected", planned)
    return planned
