"""The broadcasts' queue, across every ISP on purpose (one worker serves them all; listed in
tests/test_layout.py's CROSS_TENANT): the worker takes the oldest broadcast still expanding that
no other worker holds."""

from __future__ import annotations

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession


async def claim(session: AsyncSession) -> RowMapping | None:
    """The oldest broadcast still expanding, locked for this transaction; another worker skips
    it (and takes the next) instead of waiting, so no two expand one broadcast at once."""
    result = await session.execute(
        text("""SELECT b.id, b.tenant_id, b.body, b.channels, b.stop_to, b.cursor, b.created_at,
                       t.message_prefixes AS prefixes
                  FROM broadcast b JOIN tenant t ON t.id = b.tenant_id
                 WHERE b.status = 'expanding'
                 ORDER BY b.id LIMIT 1 FOR UPDATE OF b SKIP LOCKED""")
    )
    return result.mappings().first()
