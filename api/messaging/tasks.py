"""The worker's outbox sweep, across every ISP on purpose (one worker serves them all).

A message is normally sent by the process that queued it, right after its transaction commits.
This sweep catches what that missed and makes the later tries:
- a message still queued `QUEUED_GRACE` after it was decided (the process stopped between
  commit and send), or whose next try is due (a temporary failure's backoff ran out, an offer's
  quiet hours ended, or it waited for its ISP's sending rate: pacing.py), is sent now;
- a message stuck in "sending" for `SENDING_LIMIT` (the sender died during the call, so the
  provider may or may not have it) is marked failed, never sent again: one cause, at most one
  message."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from api.db import unit_of_work
from api.messaging import outbox

log = logging.getLogger(__name__)
QUEUED_GRACE = timedelta(seconds=15)
SENDING_LIMIT = timedelta(minutes=5)


async def sweep_messages(ctx: dict[str, Any] | None = None, *, most: int = 200) -> dict[str, int]:
    async with unit_of_work() as session:
        stuck = await session.execute(
            text("""
                UPDATE message
                   SET status = 'failed', final_at = now(), updated_at = now(),
                       error = 'the sender stopped during the call; not sent again, to never '
                               'send it twice'
                 WHERE status = 'sending'
                   AND updated_at < now() - CAST(:limit AS interval)"""),
            {"limit": SENDING_LIMIT},
        )
        due = await session.scalars(
            text("""
                SELECT id FROM message
                 WHERE status IN ('queued', 'held')
                   AND COALESCE(next_attempt_at, created_at + CAST(:grace AS interval)) <= now()
                 ORDER BY created_at LIMIT :most"""),
            {"grace": QUEUED_GRACE, "most": most},
        )
        ids = list(due.all())
    if ids:
        await outbox.send_batch(ids)  # the claim makes a concurrent send harmless
    return {"sent": len(ids), "abandoned": stuck.rowcount or 0}  # type: ignore[attr-defined]
