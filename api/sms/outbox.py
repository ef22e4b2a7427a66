"""The SQL of the SMS outbox, across ISPs on purpose (listed in tests/test_layout.py's
CROSS_TENANT): it also holds the platform's own messages, which have no ISP.

A message is inserted in its cause's transaction with `ON CONFLICT (idempotency_key) DO
NOTHING`, so one key is one row however many callers race. After that a message is reached by
its primary key (the sender) or by Africa's Talking's message id plus the number it went to (a
delivery report): those are capabilities only we and AT hold, and the row's tenant comes with
it. Status updates name the statuses they move from, so a status only ever moves forward."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import SmsMessage
from api.tenancy import tenant_sql


async def insert_message(
    session: AsyncSession, tenant_id: int | None, values: dict[str, Any]
) -> int | None:
    """The new message's id, or None when its key is already taken."""
    insert = """
        INSERT INTO sms_message (tenant_id, idempotency_key, recipient, body, purpose)
        VALUES ({tenant}, :key, :recipient, :body, :purpose)
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"""
    if tenant_id is None:
        statement = text(insert.format(tenant="NULL"))
    else:
        statement = tenant_sql(tenant_id, insert.format(tenant=":tenant_id"))
    return await session.scalar(statement, values)


async def by_key(session: AsyncSession, key: str) -> SmsMessage | None:
    return await session.scalar(select(SmsMessage).where(SmsMessage.idempotency_key == key))


async def by_id(session: AsyncSession, message_id: int) -> SmsMessage | None:
    return await session.scalar(select(SmsMessage).where(SmsMessage.id == message_id))


async def claim(session: AsyncSession, message_id: int) -> RowMapping | None:
    """Takes a queued message for sending; None if another sender has it (or had it)."""
    result = await session.execute(
        text("""
            UPDATE sms_message SET status = 'sending', updated_at = now()
             WHERE id = :id AND status = 'queued'
         RETURNING id, tenant_id, recipient, body"""),
        {"id": message_id},
    )
    return result.mappings().first()


async def record_answer(session: AsyncSession, message_id: int, values: dict[str, Any]) -> None:
    """What Africa's Talking answered (or why it could not be asked): sent or failed."""
    await session.execute(
        text("""
            UPDATE sms_message
               SET status = :status, account = :account, provider_message_id = :message_id,
                   provider_status = :provider_status, status_code = :status_code,
                   cost = :cost, currency = :currency, error = :error, updated_at = now(),
                   sent_at = CASE WHEN :status = 'sent' THEN now() END,
                   final_at = CASE WHEN :status = 'failed' THEN now() END
             WHERE id = :id AND status = 'sending'"""),
        {"id": message_id} | values,
    )


async def apply_report(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """A delivery report onto its message, forward only: a final report (delivered/failed) moves
    a sent message once; a progress report (Buffered, ...) only notes AT's word on a message
    that is still sent. Returns the message's id, or None if the report changed nothing. A
    report that beat our own record of the send (the id not stored yet) is ignored too: Africa's
    Talking's reports come seconds after its answer, ours is recorded in milliseconds."""
    return await session.scalar(
        text("""
            UPDATE sms_message
               SET status = :status, provider_status = :provider_status,
                   network_code = COALESCE(:network_code, network_code),
                   error = COALESCE(:error, error), updated_at = now(),
                   final_at = CASE WHEN :status IN ('delivered', 'failed') THEN now() END
             WHERE provider_message_id = :message_id AND recipient = :phone
               AND status = 'sent'
         RETURNING id"""),
        values,
    )
