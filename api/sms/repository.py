"""The SQL of an ISP's SMS: its Africa's Talking account and the SMS it sent, each from the
tenant scope (the outbox itself, every channel's, is api/messaging/)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Message, SmsSettings
from api.tenancy import scoped


async def settings_row(session: AsyncSession, tenant_id: int) -> SmsSettings | None:
    return await session.scalar(scoped(SmsSettings, tenant_id))


async def messages(session: AsyncSession, tenant_id: int, limit: int) -> list[Message]:
    statement = (
        scoped(Message, tenant_id)
        .where(Message.channel == "sms")
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())
