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
