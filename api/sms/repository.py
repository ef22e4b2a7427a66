"""The SQL of an ISP's SMS: its Africa's Talking account and the messages it sent, each from
the tenant scope. The outbox itself (queueing, sending, delivery reports) is in outbox.py."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import SmsMessage, SmsSettings
from api.tenancy import scoped


async def settings_row(session: AsyncSession, tenant_id: int) -> SmsSettings | None:
    return await session.scalar(scoped(SmsSettings, tenant_id))


async def messages(session: AsyncSession, tenant_id: int, limit: int) -> list[SmsMessage]:
    statement = scoped(SmsMessage, tenant_id).order_by(SmsMessage.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())
