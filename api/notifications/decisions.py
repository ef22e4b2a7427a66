"""Deciding a notification in the caller's transaction: one row per unique key, however often
the cause is seen (the accounting SQL decides usage warnings itself, migration 0016)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


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
