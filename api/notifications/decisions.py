"""Deciding a notification in the caller's transaction: one row per unique key, however often
the cause is seen (the accounting SQL decides usage warnings itself, migration 0016)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql

log = logging.getLogger(__name__)


async def decide(
    session: AsyncSession, tenant_id: int, event: str, key: str, voucher_id: int | None,
    details: dict[str, Any],
) -> bool:  # fmt: skip
    """True if this call decided it (False: the key was decided before)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """INSERT INTO notification (tenant_id, event, key, voucher_id, details)
               VALUES (:tenant_id, :event, :key, :voucher, CAST(:details AS jsonb))
               ON CONFLICT (key) DO NOTHING RETURNING id""",
        ),
        {"event": event, "key": key, "voucher": voucher_id,
         "details": json.dumps(details, default=str)},
    )  # fmt: skip
    return result.scalar() is not None


async def decided_recently(
    session: AsyncSession, tenant_id: int, keys: list[str], within: timedelta
) -> bool:
    """Whether one of `keys` was decided within `within` (read on the key's unique index)."""
    found = await session.scalar(
        tenant_sql(
            tenant_id,
            """SELECT EXISTS (SELECT 1 FROM notification
                               WHERE {tenant} AND key = ANY(CAST(:keys AS text[]))
                                 AND created_at > now() - CAST(:within AS interval))""",
        ),
        {"keys": keys, "within": within},
    )
    return bool(found)


async def guarded(session: AsyncSession, what: str, decide: Callable[[], Awaitable[bool]]) -> bool:
    """An alert decided beside the fact it is about, in a savepoint: a failure in deciding is
    logged and dropped (False), so the fact still commits and its request still answers as it
    would have (a failed login 401, not 500). An alert is never worth the fact."""
    try:
        async with session.begin_nested():
            return await decide()
    except Exception:  # noqa: BLE001 - the fact stands without its alert
        log.exception("staff alert on %s not decided", what)
        return False
