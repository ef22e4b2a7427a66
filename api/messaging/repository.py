"""The SQL of the outbox (`message`) and of each ISP's accounts on the providers.

A message is inserted in its cause's transaction with `ON CONFLICT (idempotency_key) DO
NOTHING`, so one key is one row however many callers race. After that a message is reached by
its primary key (the sender) or by the provider's message id plus the number it went to (a
delivery report): capabilities only we and the provider hold, and the row's tenant comes with
it; a WhatsApp status callback names its ISP in its URL, so its update is scoped to that ISP too.
Status updates name the statuses they move from, so a status only ever moves forward."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, Select, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import EmailSettings, Message, SmsSettings, Tenant, WhatsappSettings
from api.tenancy import scoped, tenant_sql

_INSERT = """
    INSERT INTO message (tenant_id, idempotency_key, channel, recipient, subject, body,
                         template, template_params, purpose, max_attempts, broadcast_id)
    VALUES ({tenant}, :key, :channel, :recipient, :subject, :body, :template,
            CAST(:template_params AS jsonb), :purpose, :max_attempts, :broadcast_id)
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"""


async def insert_message(
    session: AsyncSession, tenant_id: int | None, values: dict[str, Any]
) -> int | None:
    """The new message's id, or None when its key is already taken."""
    params = {"broadcast_id": None} | values
    params["template_params"] = (
        json.dumps(values["template_params"]) if values.get("template_params") is not None else None
    )
    if tenant_id is None:
        statement = text(_INSERT.format(tenant="NULL"))
    else:
        statement = tenant_sql(tenant_id, _INSERT.format(tenant=":tenant_id"))
    return await session.scalar(statement, params)


async def by_key(session: AsyncSession, key: str) -> Message | None:
    return await session.scalar(select(Message).where(Message.idempotency_key == key))


async def by_id(session: AsyncSession, message_id: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id))


async def claim_many(session: AsyncSession, message_ids: Sequence[int]) -> list[RowMapping]:
    """Takes the messages that are queued (or held) and due, counting the attempt; those another
    sender has (or had), or whose next try is not due yet, are left out."""
    result = await session.execute(
        text("""
            UPDATE message SET status = 'sending', attempts = attempts + 1, updated_at = now()
             WHERE id = ANY(:ids) AND status IN ('queued', 'held')
               AND COALESCE(next_attempt_at, '-infinity') <= now()
         RETURNING id, tenant_id, channel, recipient, subject, body, template, template_params,
                   attempts, max_attempts, purpose,
                   (SELECT t.message_rate_per_minute FROM tenant t
                     WHERE t.id = message.tenant_id) AS rate"""),
        {"ids": list(message_ids)},
    )
    return list(result.mappings().all())


async def hold(session: AsyncSession, message_ids: Sequence[int], until: datetime) -> None:
    """Claimed messages put back to wait for their ISP's rate (api/messaging/pacing.py): queued
    again, due at `until`, the attempt their claim counted given back."""
    await session.execute(
        text("""
            UPDATE message SET status = 'queued', attempts = attempts - 1,
                               next_attempt_at = :until, updated_at = now()
             WHERE id = ANY(:ids) AND status = 'sending'"""),
        {"ids": list(message_ids), "until": until},
    )


async def set_aside(
    session: AsyncSession, message_id: int, status: str, reason: str, until: datetime | None
) -> None:
    """A claimed offer not sent after all, its attempt given back: held until `until` (quiet
    hours; the sweep takes it then) or skipped for good, with the reason."""
    await session.execute(
        text("""
            UPDATE message
               SET status = :status, attempts = attempts - 1, error = :reason,
                   next_attempt_at = :until, updated_at = now(),
                   final_at = CASE WHEN :status = 'skipped' THEN now() END
             WHERE id = :id AND status = 'sending'"""),
        {"id": message_id, "status": status, "reason": reason, "until": until},
    )


async def skip(session: AsyncSession, message_id: int, reason: str) -> None:
    """A message decided but never to be sent (an offer to a phone at its daily cap)."""
    await session.execute(
        text("""
            UPDATE message SET status = 'skipped', error = :reason, final_at = now(),
                               updated_at = now()
             WHERE id = :id AND status = 'queued'"""),
        {"id": message_id, "reason": reason},
    )


async def quiet_hours(session: AsyncSession, tenant_id: int) -> tuple[int | None, int | None]:
    result = await session.execute(
        select(Tenant.quiet_hours_from, Tenant.quiet_hours_to).where(Tenant.id == tenant_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row is not None else (None, None)


async def release_held(session: AsyncSession, tenant_id: int) -> int:
    """The ISP's held offers, due again now (its quiet hours changed: the sweep judges each
    against the new ones)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE message SET next_attempt_at = now(), updated_at = now()
                WHERE {tenant} AND status = 'held'""",
        )
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


async def record_answer(
    session: AsyncSession, message_id: int, values: dict[str, Any], retry_in: timedelta
) -> None:
    """What the provider answered (or why it could not be asked): sent, failed, or queued again
    for another try in `retry_in`."""
    await session.execute(
        text("""
            UPDATE message
               SET status = :status, provider = :provider, account = :account,
                   provider_message_id = :message_id, provider_status = :provider_status,
                   status_code = :status_code, cost = :cost, currency = :currency,
                   error = :error, updated_at = now(),
                   next_attempt_at = CASE WHEN :status = 'queued'
                                          THEN now() + CAST(:retry_in AS interval) END,
                   sent_at = CASE WHEN :status = 'sent' THEN now() END,
                   final_at = CASE WHEN :status = 'failed' THEN now() END
             WHERE id = :id AND status = 'sending'"""),
        {"id": message_id, "retry_in": retry_in} | values,
    )


_REPORT = """
    UPDATE message
       SET status = :status, provider_status = :provider_status,
           network_code = COALESCE(:network_code, network_code),
           cost = COALESCE(:cost, cost), currency = COALESCE(:currency, currency),
           error = COALESCE(:error, error), updated_at = now(),
           final_at = CASE WHEN :status IN ('delivered', 'failed') THEN now() END
     WHERE provider = :provider AND provider_message_id = :message_id AND recipient = :phone
       AND status = 'sent' {scope}
 RETURNING id"""
_REPORT_DEFAULTS = {"network_code": None, "cost": None, "currency": None, "error": None}


async def apply_report(
    session: AsyncSession, values: dict[str, Any], tenant_id: int | None = None
) -> int | None:
    """A delivery or status report onto its message, forward only: a final report
    (delivered/failed) moves a sent message once; a progress report (Buffered, sent, ...) only
    notes the provider's word on a message that is still sent. Returns the message's id, or
    None if the report changed nothing. A report that beat our own record of the send (the id
    not stored yet) is ignored too. With `tenant_id` (a callback URL that names its ISP) only
    that ISP's messages can move."""
    params = _REPORT_DEFAULTS | values
    if tenant_id is None:
        return await session.scalar(text(_REPORT.format(scope="")), params)
    return await session.scalar(tenant_sql(tenant_id, _REPORT.format(scope="AND {tenant}")), params)


def listing(
    tenant_id: int,
    *,
    channel: str | None = None,
    status: str | None = None,
    recipient: str | None = None,
    since: datetime | None = None,
    before: int | None = None,
) -> Select[Message]:
    """The ISP's messages, newest first, narrowed by the filters; `before` is the keyset (the
    last id of the previous page)."""
    statement = scoped(Message, tenant_id)
    if channel:
        statement = statement.where(Message.channel == channel)
    if status:
        statement = statement.where(Message.status == status)
    if recipient:
        statement = statement.where(Message.recipient == recipient)
    if since:
        statement = statement.where(Message.created_at >= since)
    if before:
        statement = statement.where(Message.id < before)
    return statement.order_by(Message.id.desc())


async def messages(session: AsyncSession, statement: Select[Message], limit: int) -> list[Message]:
    return list((await session.scalars(statement.limit(limit))).all())


# ------------------------------------------------------------------ accounts


async def sms_settings(session: AsyncSession, tenant_id: int) -> SmsSettings | None:
    return await session.scalar(scoped(SmsSettings, tenant_id))


async def whatsapp_settings(session: AsyncSession, tenant_id: int) -> WhatsappSettings | None:
    return await session.scalar(scoped(WhatsappSettings, tenant_id))


async def email_settings(session: AsyncSession, tenant_id: int) -> EmailSettings | None:
    return await session.scalar(scoped(EmailSettings, tenant_id))


async def every_whatsapp_settings(session: AsyncSession) -> list[WhatsappSettings]:
    """Every ISP's WhatsApp account, locked: across ISPs on purpose (`mnetifi secrets rotate`)."""
    return list((await session.scalars(select(WhatsappSettings).with_for_update())).all())


async def every_email_settings(session: AsyncSession) -> list[EmailSettings]:
    """Every ISP's e-mail sender, locked: across ISPs on purpose (`mnetifi secrets rotate`)."""
    return list((await session.scalars(select(EmailSettings).with_for_update())).all())
