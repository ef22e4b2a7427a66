"""The SQL of SMS: an ISP's Africa's Talking account, and its SMS in the outbox (the outbox
itself, every channel's, is api/messaging/repository.py)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Message, SmsSettings
from api.tenancy import scoped


async def settings_row(session: AsyncSession, tenant_id: int) -> SmsSettings | None:
    return await session.scalar(scoped(SmsSettings, tenant_id))


async def every_settings_row(session: AsyncSession) -> list[SmsSettings]:
    """Every ISP's account, locked: across ISPs on purpose (`mnetifi secrets rotate`)."""
    return list((await session.scalars(select(SmsSettings).with_for_update())).all())


async def messages(session: AsyncSession, tenant_id: int, limit: int) -> list[Message]:
    statement = (
        scoped(Message, tenant_id)
        .where(Message.channel == "sms")
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())
