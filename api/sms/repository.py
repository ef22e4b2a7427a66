"""The SQL of an ISP's SMS: its Africa's Talking account and the SMS it sent, each from the
tenant scope (the outbox itself, every channel's, is api/messaging/)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Message, SmsSettings
from api.tenancy import scoped, tenant_sql


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


async def record_inbound(
    session: AsyncSession, tenant_id: int, values: dict[str, Any]
) -> int | None:
    """The new inbound message's id, or None when AT's id was recorded before (a replay)."""
    return await session.scalar(
        tenant_sql(
            tenant_id,
            """INSERT INTO inbound_sms (tenant_id, provider_id, sender, to_number, body, link_id,
                                        network_code, sent_at, action)
               VALUES (:tenant_id, :provider_id, :sender, :to_number, :body, :link_id,
                       :network_code, :sent_at, :action)
               ON CONFLICT (tenant_id, provider_id) DO NOTHING RETURNING id""",
        ),
        values,
    )


async def isp_voice(session: AsyncSession, tenant_id: int) -> tuple[str, str]:
    """How the ISP speaks to its customers: the portal's name and its default language."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT COALESCE(ps.display_name, t.name) AS isp, COALESCE(ps.language, 'en') AS lang
                 FROM tenant t LEFT JOIN portal_settings ps ON {tenant:ps}
                WHERE t.id = :tenant_id""",
        )
    )
    row = result.mappings().one()
    return str(row["isp"]), str(row["lang"])
