"""What staff do with messages: list and filter them (every channel, keyset pages), and set the
ISP's e-mail sender (audited; the SMTP password encrypted, shown only as set or not)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, crypto
from api.errors import BadRequest, NotFound
from api.messaging import repository
from api.messaging.schemas import EmailSettingsIn, EmailSettingsOut, MessageOut, MessagePage
from api.models import EmailSettings
from api.tenancy import Principal


async def messages(
    session: AsyncSession,
    principal: Principal,
    *,
    channel: str | None,
    status: str | None,
    recipient: str | None,
    since: datetime | None,
    before: int | None,
    limit: int,
) -> MessagePage:
    if since is not None and since.tzinfo is None:
        raise BadRequest("since is a time with its zone, e.g. 2026-12-06T09:00:00+03:00")
    statement = repository.listing(
        principal.tenant_id, channel=channel, status=status, recipient=recipient, since=since,
        before=before,
    )  # fmt: skip
    rows = await repository.messages(session, statement, limit + 1)
    items = [MessageOut.model_validate(row) for row in rows[:limit]]
    return MessagePage(items=items, next_before=items[-1].id if len(rows) > limit else None)


def _out(row: EmailSettings | None) -> EmailSettingsOut:
    return EmailSettingsOut(
        from_address=row.from_address if row else None,
        from_name=row.from_name if row else None,
        smtp_host=row.smtp_host if row else None,
        smtp_port=row.smtp_port if row else None,
        smtp_tls=row.smtp_tls if row else None,
        smtp_username=row.smtp_username if row else None,
        has_smtp_password=bool(row and row.smtp_password_enc),
        sends_with="isp" if row else "platform",
    )


def _audited(row: EmailSettings | None) -> dict[str, Any]:
    if row is None:
        return {}
    fields = ("from_address", "from_name", "smtp_host", "smtp_port", "smtp_tls", "smtp_username")
    values = {name: getattr(row, name) for name in fields}
    password = crypto.decrypt(row.smtp_password_enc) if row.smtp_password_enc else None
    return values | {"smtp_password": password}


async def get_email_settings(session: AsyncSession, principal: Principal) -> EmailSettingsOut:
    return _out(await repository.email_settings(session, principal.tenant_id))


async def save_email_settings(
    session: AsyncSession, principal: Principal, data: EmailSettingsIn, meta: audit.Meta = None
) -> EmailSettingsOut:
    row = await repository.email_settings(session, principal.tenant_id)
    created = row is None
    before = _audited(row)
    if row is None:
        row = EmailSettings(tenant_id=principal.tenant_id)
        session.add(row)
    row.from_address = str(data.from_address)
    row.from_name = data.from_name
    row.smtp_host, row.smtp_port = data.smtp_host, data.smtp_port
    row.smtp_tls = data.smtp_tls
    row.smtp_username = data.smtp_username
    if data.smtp_host is None:
        row.smtp_password_enc = None
    elif data.smtp_password is not None:
        row.smtp_password_enc = crypto.encrypt(data.smtp_password.get_secret_value())
    await session.flush()
    action = "email.settings.create" if created else "email.settings.update"
    await audit.changed(
        session, principal, action, "tenant", principal.tenant_id, before, _audited(row), meta
    )
    return _out(row)


async def delete_email_settings(
    session: AsyncSession, principal: Principal, meta: audit.Meta = None
) -> EmailSettingsOut:
    """Back to the platform's sender."""
    row = await repository.email_settings(session, principal.tenant_id)
    if row is None:
        raise NotFound("This ISP has no e-mail sender of its own")
    before = _audited(row)
    await session.delete(row)
    await session.flush()
    await audit.changed(
        session, principal, "email.settings.delete", "tenant", principal.tenant_id, before, {},
        meta,
    )  # fmt: skip
    return _out(None)


async def rotate_secrets(session: AsyncSession) -> int:
    """Re-encrypts every ISP's SMTP password under the newest key; returns how many rows."""
    rows = await repository.every_email_settings(session)
    for row in rows:
        if row.smtp_password_enc:
            row.smtp_password_enc = crypto.reencrypt(row.smtp_password_enc)
    await session.flush()
    return len(rows)
