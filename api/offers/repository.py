"""The SQL of one ISP's offers: its broadcasts and their messages' progress, and which channels
it has set up (the worker's claim across ISPs is queue.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Broadcast, SmsSettings, Tenant, WhatsappSettings
from api.tenancy import in_tenant, scoped, tenant_sql


async def setup(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    """The ISP's own SMS account's shortcode (None: no account, or no shortcode), whether it
    has a WhatsApp account, and its country prefixes."""
    sms = await session.scalar(scoped(SmsSettings, tenant_id))
    whatsapp = await session.scalar(scoped(WhatsappSettings, tenant_id))
    prefixes = await session.scalar(select(Tenant.message_prefixes).where(Tenant.id == tenant_id))
    return {
        "sms": sms is not None,
        "shortcode": sms.shortcode if sms else None,
        "whatsapp": whatsapp is not None,
        "prefixes": prefixes or "",
    }


async def add(session: AsyncSession, tenant_id: int, values: dict[str, Any]) -> Broadcast:
    row = Broadcast(tenant_id=tenant_id, **values)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def one(session: AsyncSession, tenant_id: int, broadcast_id: int) -> Broadcast | None:
    return await session.scalar(scoped(Broadcast, tenant_id).where(Broadcast.id == broadcast_id))


async def recent(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[Broadcast]:
    statement = scoped(Broadcast, tenant_id).order_by(Broadcast.id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(Broadcast.id < before)
    return list((await session.scalars(statement)).all())


async def progress(
    session: AsyncSession, tenant_id: int, broadcast_ids: list[int]
) -> dict[int, list[RowMapping]]:
    """Each broadcast's messages by status: count, cost and currency."""
    if not broadcast_ids:
        return {}
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT broadcast_id, status, count(*) AS n, sum(cost) AS cost,
                      max(currency) AS currency
                 FROM message
                WHERE {tenant} AND broadcast_id = ANY (CAST(:ids AS bigint[]))
                GROUP BY broadcast_id, status""",
        ),
        {"ids": broadcast_ids},
    )
    out: dict[int, list[RowMapping]] = {}
    for row in result.mappings():
        out.setdefault(row["broadcast_id"], []).append(row)
    return out


async def advance(
    session: AsyncSession, tenant_id: int, broadcast_id: int, cursor: str | None, done: bool
) -> None:
    """The expansion's progress, in the same transaction as the batch's messages."""
    values: dict[str, Any] = {"cursor": cursor}
    if done:
        values |= {"status": "done", "finished_at": func.now()}
    statement = update(Broadcast).where(
        in_tenant(Broadcast, tenant_id), Broadcast.id == broadcast_id
    )
    await session.execute(statement.values(**values))
