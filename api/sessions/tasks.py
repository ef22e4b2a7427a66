"""arq jobs for sessions."""

from __future__ import annotations

import logging
from typing import Any

from api.db import unit_of_work
from api.sessions import service

log = logging.getLogger(__name__)


async def close_stale_sessions(ctx: dict[str, Any]) -> int:
    """Every minute: close sessions whose router stopped updating them (rebooted router, lost
    Stop), so lists of who is online stay true. Running it twice closes nothing twice, and a
    late interim update reopens a session it closed."""
    async with unit_of_work() as session:
        closed = await service.close_stale_sessions(session)
    if closed:
        log.info("closed %d stale session(s)", closed)
    return closed


async def prune_auth_failures(ctx: dict[str, Any]) -> int:
    """Every hour: drop wrong-code counters (auth_failure) with nothing to remember. FreeRADIUS
    ignores old rows anyway (their window is over), so this only keeps the table small; running
    it twice deletes nothing twice."""
    async with unit_of_work() as session:
        return await service.prune_auth_failures(session)
