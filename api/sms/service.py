"""Sending SMS, and an ISP's Africa's Talking account.

SMS is one channel of the outbox every message goes through (api/messaging/outbox.py, which
also carries WhatsApp and e-mail); this module keeps the SMS-shaped calls. `send_sms` and
`send_now` give a message one try: their callers (one-time codes, invitations, the test
button) tell a person, who asks again; notifications go through `api.messaging.enqueue` and
are retried with backoff on temporary errors.

How a message goes out ("decided in the transaction, sent after commit", as STK pushes are):
`send_sms(session, tenant_id, to, body, purpose, key)` writes an outbox row in the caller's
transaction; the row's idempotency key is UNIQUE, so one cause sends one message however often
(or concurrently) it is asked. Once that transaction commits, the same process sends it at once
(`api.db.after_commit`, no queue hop: a one-time code must arrive in seconds), and nothing is
sent if it rolls back. In a request that is before the response goes out, so the response waits
for Africa's Talking (at most MNETIFI_AT_TIMEOUT) and the message's status is known by then.
A sender first claims the row (queued -> sending, committed) and only then calls Africa's
Talking, so two senders never send one message; a process that dies mid-call
leaves it "sending", which the worker marks failed rather than risk sending it twice. A message
whose after-commit send never ran (the process stopped) is sent by the worker's sweep
(tasks.py). Callers that need the outcome at once (a "send a test SMS" button) use `send_now`,
which raises an error a person can act on.

Which account sends: an ISP's message goes out on the ISP's own account when it has saved one
(its sender id, its bill), else on the platform's (MNETIFI_AT_*); platform messages (tenant None)
always on the platform's. Decided when the message is sent, not when it is queued."""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, config, crypto
from api.db import after_commit, unit_of_work
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.messaging import accounts, outbox
from api.messaging import repository as outbox_repository
from api.messaging.africastalking import Account
from api.models import SmsSettings
from api.sms import inbound, repository
from api.sms.schemas import E164, SmsOut, SmsSettingsIn, SmsSettingsOut
from api.tenancy import Principal

log = logging.getLogger(__name__)
_PHONE = re.compile(E164)
MAX_BODY = 1600
REPORT_PATH = "/hooks/sms/delivery"


def masked(phone: str | None) -> str | None:
    """+254712345678 -> +2547******78: enough to recognise, not to learn."""
    if not phone:
        return None
    return phone[:5] + "*" * max(len(phone) - 7, 0) + phone[-2:]


class SmsNotSent(BadRequest):
    """Africa's Talking refused the message (a wrong number, no credit...): 422, the reason."""


# ------------------------------------------------------------------ queueing


async def _enqueue(
    session: AsyncSession, tenant_id: int | None, to: str, body: str, purpose: str, key: str
) -> tuple[int, bool]:
    """The message's id, and whether this call created it (one try, see above)."""
    return await outbox.decide(session, tenant_id, "sms", to, body, purpose, key, attempts=1)


async def send_sms(
    session: AsyncSession, tenant_id: int | None, to: str, body: str, purpose: str, key: str
) -> int:
    """Queues one SMS in the caller's transaction and sends it once that commits; returns the
    message id. The same key again (even concurrently) is the same message, sent once."""
    message_id, created = await _enqueue(session, tenant_id, to, body, purpose, key)
    if created:
        after_commit(session, lambda: outbox.deliver_quietly(message_id))
    return message_id


async def send_now(tenant_id: int | None, to: str, body: str, purpose: str, key: str) -> SmsOut:
    """Queues (committed), sends, and returns the outcome; raises ServiceUnavailable (503) when
    Africa's Talking could not be asked, SmsNotSent (422) when it refused the message or the
    account (a wrong key), or there is no account."""
    async with unit_of_work() as session:
        message_id, _ = await _enqueue(session, tenant_id, to, body, purpose, key)
    unavailable = await outbox.send(message_id)
    out = await _current(message_id)
    if out.status == "failed":
        error = ServiceUnavailable if unavailable else SmsNotSent
        raise error(f"The SMS was not sent: {out.error or 'no reason given'}")
    return out


# ------------------------------------------------------------------ sending


def platform_account() -> Account | None:
    return accounts.platform_sms()


async def _current(message_id: int) -> SmsOut:
    current = await outbox.current(message_id)
    if current is None:
        raise NotFound("No such message")
    return SmsOut.model_validate(current)


async def deliver(message_id: int) -> SmsOut:
    """Sends a queued message if nobody has yet; returns the message as it then stands."""
    await outbox.send(message_id)
    return await _current(message_id)


# ------------------------------------------------------------------ delivery reports

# Africa's Talking's delivery statuses -> ours. Success, Failed and Rejected are final.
REPORT_STATUSES = {
    "Sent": "sent",
    "Submitted": "sent",
    "Buffered": "sent",
    "Success": "delivered",
    "Failed": "failed",
    "Rejected": "failed",
}
_FIELD = re.compile(r"^[\w .:+-]{0,100}$")


def parse_report(fields: dict[str, str]) -> dict[str, Any]:
    """A delivery report's fields, checked; raises BadRequest saying what is wrong."""
    message_id = fields.get("id", "").strip()
    status = fields.get("status", "").strip()
    phone = fields.get("phoneNumber", "").strip().replace(" ", "")
    if not message_id or not _FIELD.match(message_id):
        raise BadRequest("a delivery report needs the message id")
    if status not in REPORT_STATUSES:
        raise BadRequest(f"unknown delivery status; one of {', '.join(REPORT_STATUSES)}")
    phone = phone if phone.startswith("+") else "+" + phone
    if not _PHONE.match(phone):
        raise BadRequest("a delivery report needs the phoneNumber the message went to")
    reason = fields.get("failureReason", "").strip()
    network = fields.get("networkCode", "").strip()
    if not _FIELD.match(reason) or not _FIELD.match(network):
        raise BadRequest("failureReason and networkCode are short words")
    ours = REPORT_STATUSES[status]
    return {
        "message_id": message_id,
        "phone": phone,
        "status": ours,
        "provider_status": status,
        "network_code": network or None,
        "error": f"{status}: {reason or 'no reason given'}" if ours == "failed" else None,
    }


async def apply_report(fields: dict[str, str]) -> int | None:
    """Applies a delivery report; the id of the message it moved, or None when it moved nothing
    (an id we never sent, a number that does not match, a message already final: all ignored)."""
    values = parse_report(fields) | {"provider": "africastalking"}
    async with unit_of_work() as session:
        moved = await outbox_repository.apply_report(session, values)
    log.info("sms delivery report %s for %s: %s", values["provider_status"],
             values["message_id"], "applied" if moved else "ignored")  # fmt: skip
    return moved


# ------------------------------------------------------------------ the ISP's account


def report_url() -> str:
    return config.get_settings().public_url.rstrip("/") + REPORT_PATH


def _out(row: SmsSettings | None) -> SmsSettingsOut:
    sends_with = "isp" if row else ("platform" if platform_account() else "none")
    token = crypto.decrypt(row.inbound_token_enc) if row and row.inbound_token_enc else None
    return SmsSettingsOut(
        username=row.username if row else None,
        sender_id=row.sender_id if row else None,
        has_api_key=row is not None,
        sends_with=sends_with,  # type: ignore[arg-type]
        delivery_report_url=report_url(),
        shortcode=row.shortcode if row else None,
        inbound_url=inbound.inbound_url(row.tenant_id, token) if row and token else None,
    )


async def get_settings(session: AsyncSession, principal: Principal) -> SmsSettingsOut:
    return _out(await repository.settings_row(session, principal.tenant_id))


def _audited(row: SmsSettings | None) -> dict[str, Any]:
    """The account as the audit log compares it (the key decrypted in memory only: the log
    stores whether it was set or changed, never its value)."""
    if row is None:
        return {}
    key = crypto.decrypt(row.api_key_enc) if row.api_key_enc else None
    token = crypto.decrypt(row.inbound_token_enc) if row.inbound_token_enc else None
    return {"username": row.username, "sender_id": row.sender_id, "shortcode": row.shortcode,
            "api_key": key, "inbound_token": token}  # fmt: skip


async def save_settings(
    session: AsyncSession, principal: Principal, data: SmsSettingsIn, meta: audit.Meta = None
) -> SmsSettingsOut:
    row = await repository.settings_row(session, principal.tenant_id)
    created = row is None
    before = _audited(row)
    if row is None:
        if data.api_key is None:
            raise BadRequest("the first save needs api_key")
        row = SmsSettings(tenant_id=principal.tenant_id)
        session.add(row)
    row.username = data.username
    row.sender_id = data.sender_id
    row.shortcode = data.shortcode
    if row.inbound_token_enc is None:  # also for accounts saved before incoming messages
        row.inbound_token_enc = crypto.encrypt(secrets.token_hex(32))
    if data.api_key is not None:
        row.api_key_enc = crypto.encrypt(data.api_key.get_secret_value())
    await session.flush()
    action = "sms.settings.create" if created else "sms.settings.update"
    await audit.changed(
        session, principal, action, "tenant", principal.tenant_id, before, _audited(row), meta
    )
    return _out(row)


async def delete_settings(
    session: AsyncSession, principal: Principal, meta: audit.Meta = None
) -> SmsSettingsOut:
    """Back to the platform's account."""
    row = await repository.settings_row(session, principal.tenant_id)
    if row is None:
        raise NotFound("This ISP has no SMS account of its own")
    before = _audited(row)
    await session.delete(row)
    await session.flush()
    await audit.changed(
        session, principal, "sms.settings.delete", "tenant", principal.tenant_id, before, {}, meta
    )
    return _out(None)


async def send_test(
    session: AsyncSession, principal: Principal, to: str, meta: audit.Meta = None
) -> SmsOut:
    """A test message on the account this ISP's messages would use now (audited first: the
    attempt is the staff action, whatever Africa's Talking answers)."""
    await audit.record(
        session, principal, "sms.settings.test", "tenant", principal.tenant_id, {"to": to}, meta
    )
    await session.commit()
    body = "mnetifi: this is a test message. SMS works for your ISP."
    return await send_now(principal.tenant_id, to, body, "test", "test:" + secrets.token_hex(8))


async def recent(session: AsyncSession, principal: Principal, limit: int) -> list[SmsOut]:
    rows = await repository.messages(session, principal.tenant_id, limit)
    return [SmsOut.model_validate(row) for row in rows]
