"""One outbox for every channel (SMS, WhatsApp, e-mail): a message is decided in its cause's
transaction and sent after that commits, once.

`enqueue(session, tenant_id, channel, recipient, body, purpose, key, ...)` writes a `message`
row in the caller's transaction; its idempotency key is UNIQUE (per ISP, the platform's apart),
so one cause sends one message however often (or concurrently) it is asked, and the call
returns None when the key was already taken. Once the transaction commits the same process
sends it at once (`api.db.after_commit`, no queue hop: a one-time code must arrive in seconds);
nothing is sent if it rolls back. A sender first claims the row (queued -> sending, the attempt
counted, committed) and only then calls the provider, so two senders never send one message.

The provider's answer makes the message `sent` (its id, status and cost kept) or `failed` with
the reason. A temporary failure (the provider unreachable before the request went out, a 5xx, a
rate limit, an SMTP 4xx) puts it back to `queued` with `next_attempt_at` after an exponential
backoff (MNETIFI_MESSAGE_RETRY_BASE doubled per try, at most MNETIFI_MESSAGE_RETRY_MAX) while
it has tries left (`max_attempts`, MNETIFI_MESSAGE_MAX_ATTEMPTS by default); the worker's sweep
(tasks.py) makes the later tries. A failure that may have come after the provider took the
message (a timeout waiting for its answer) is final: never sent twice.

Delivery and status reports later move `sent` to `delivered` or `failed` (reports.py and each
channel's hook)."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api import config, outbound
from api.db import after_commit, unit_of_work
from api.errors import BadRequest, Conflict, ServiceUnavailable
from api.messaging import (
    accounts,
    africastalking,
    at_whatsapp,
    consent,
    email,
    meta,
    pacing,
    quiet,
    repository,
)
from api.messaging.accounts import Chosen, Mailer
from api.messaging.wire import Outcome, ProviderError
from api.models import Message

log = logging.getLogger(__name__)
E164 = r"^\+[1-9][0-9]{6,14}$"
_PHONE = re.compile(E164)
_PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{0,39}$")
_TEMPLATE = re.compile(r"^[a-z0-9_]{1,512}$")
CHANNELS = ("sms", "whatsapp", "email")
MAX_BODY = {"sms": 1600, "whatsapp": 4096, "email": 100_000}
AT_ONCE = 16  # provider calls at once in a batch, unless the caller shares a gate of its own
PROVIDER_NAMES = {"africastalking": "Africa's Talking", "at_whatsapp": "Africa's Talking",
                  "meta": "Meta", "smtp": "The mail server"}  # fmt: skip


def _recipient(channel: str, recipient: str) -> str:
    if channel == "email":
        try:
            return validate_email(recipient, check_deliverability=False).normalized
        except EmailNotValidError:
            raise BadRequest(f"{recipient[:80]!r} is not an e-mail address") from None
    if not _PHONE.match(recipient):
        raise BadRequest(f"{recipient[:20]!r} is not a phone number in E.164 form (+254712345678)")
    return recipient


def _check(channel: str, body: str, purpose: str, key: str, subject: str | None,
           template: str | None, params: Sequence[str] | None) -> None:  # fmt: skip
    if channel not in CHANNELS:
        raise BadRequest(f"a channel is one of {', '.join(CHANNELS)}")
    most = MAX_BODY[channel]
    label = {"sms": "an SMS", "whatsapp": "a WhatsApp", "email": "an e-mail"}[channel]
    if not body.strip() or len(body) > most or "\x00" in body:
        raise BadRequest(f"{label} body is 1 to {most} characters")
    if not _PURPOSE.match(purpose):
        raise BadRequest("purpose is a short lowercase word such as 'otp' or 'invite'")
    if not key or len(key) > 200 or any(unicodedata.category(c) == "Cc" for c in key):
        raise BadRequest("an idempotency key is 1 to 200 printable characters")
    if (channel == "email") != (subject is not None):
        raise BadRequest("an e-mail has a subject, other messages none")
    if subject is not None and (not subject.strip() or len(subject) > 200
                                or any(c in subject for c in "\r\n\x00")):  # fmt: skip
        raise BadRequest("a subject is one line of 1 to 200 characters")
    if (template is not None or params is not None) and channel != "whatsapp":
        raise BadRequest("only WhatsApp messages have a template")
    if template is not None and not _TEMPLATE.match(template):
        raise BadRequest("a template name is lowercase letters, digits and _")
    if params is not None and (
        len(params) > 20
        or any(not isinstance(p, str) or not p or len(p) > 1024 or "\x00" in p for p in params)
    ):
        raise BadRequest("template parameters are up to 20 texts of 1 to 1024 characters")


async def enqueue(
    session: AsyncSession,
    tenant_id: int | None,
    channel: str,
    recipient: str,
    body: str,
    purpose: str,
    key: str,
    *,
    subject: str | None = None,
    template: str | None = None,
    params: Sequence[str] | None = None,
    attempts: int | None = None,
) -> int | None:
    """Decides one message in the caller's transaction and sends it once that commits; returns
    its id, or None when this key was already taken (the message it named is, or was, sent).
    `attempts`: how many tries a temporary failure allows (MNETIFI_MESSAGE_MAX_ATTEMPTS)."""
    message_id, created = await decide(
        session, tenant_id, channel, recipient, body, purpose, key,
        subject=subject, template=template, params=params, attempts=attempts,
    )  # fmt: skip
    if not created:
        return None
    after_commit(session, lambda: deliver_quietly(message_id))
    return message_id


async def decide(
    session: AsyncSession,
    tenant_id: int | None,
    channel: str,
    recipient: str,
    body: str,
    purpose: str,
    key: str,
    *,
    subject: str | None = None,
    template: str | None = None,
    params: Sequence[str] | None = None,
    attempts: int | None = None,
    broadcast_id: int | None = None,
) -> tuple[int, bool]:
    """The message's id, and whether this call created it (the same key with a different
    message is a 409). Keys are per ISP (and the platform's apart), so two ISPs choosing the
    same key never collide. `broadcast_id`: the offer it is one of."""
    _check(channel, body, purpose, key, subject, template, params)
    recipient = _recipient(channel, recipient)
    most = attempts or config.get_settings().message_max_attempts
    scoped_key = f"{'platform' if tenant_id is None else tenant_id}:{key}"
    values = {
        "key": scoped_key, "channel": channel, "recipient": recipient, "subject": subject,
        "body": body, "template": template, "purpose": purpose, "max_attempts": most,
        "template_params": list(params) if params is not None else None,
        "broadcast_id": broadcast_id,
    }  # fmt: skip
    new_id = await repository.insert_message(session, tenant_id, values)
    if new_id is not None:
        return new_id, True
    row = await repository.by_key(session, scoped_key)
    if row is None:  # pragma: no cover - the conflicting row exists once its holder commits
        raise ServiceUnavailable("the message could not be queued, try again")
    if (row.channel, row.recipient, row.body, row.purpose, row.subject) != (
        channel, recipient, body, purpose, subject,
    ):  # fmt: skip
        raise Conflict("this idempotency key was already used for a different message")
    return row.id, False


# ------------------------------------------------------------------ sending


def backoff(attempt: int) -> timedelta:
    """The wait after the `attempt`-th try failed temporarily: base, 2 base, 4 base, ..."""
    settings = config.get_settings()
    wait = settings.message_retry_base * (2 ** max(attempt - 1, 0))
    return min(wait, settings.message_retry_max)


async def _call(chosen: Chosen, row: RowMapping) -> Outcome:
    settings = config.get_settings()
    creds = chosen.credentials
    if isinstance(creds, Mailer):
        return await email.send(creds.server, creds.sender, row["recipient"], row["subject"],
                                row["body"])  # fmt: skip
    http = outbound.client("messages", settings.at_timeout)  # kept: see api/outbound.py
    if isinstance(creds, africastalking.Account):
        return await africastalking.send(
            http, settings.at_url, creds, row["recipient"], row["body"]
        )
    if isinstance(creds, at_whatsapp.Account):
        return await at_whatsapp.send(
            http, settings.at_whatsapp_url, creds, row["recipient"], row["body"]
        )
    params = row["template_params"] if row["template_params"] is not None else [row["body"]]
    return await meta.send(
        http, settings.meta_graph_url, settings.meta_graph_version, creds,
        row["recipient"], row["template"], params,
    )  # fmt: skip


def _answer(
    row: RowMapping, chosen: Chosen | None, outcome: Outcome | None, error: ProviderError | None
) -> tuple[dict[str, Any], timedelta]:
    sent = outcome is not None and outcome.accepted
    again = error is not None and error.temporary and row["attempts"] < row["max_attempts"]
    status = "sent" if sent else ("queued" if again else "failed")
    reason = None
    if chosen is None:
        reason = accounts.NO_ACCOUNT[row["channel"]]
    elif error is not None:
        reason = str(error)
    elif outcome is not None and not sent:
        reason = f"{PROVIDER_NAMES[chosen.provider]} refused it: {outcome.status}"
    values = {
        "status": status,
        "provider": chosen.provider if chosen else None,
        "account": chosen.kind if chosen else None,
        "message_id": outcome.message_id if outcome else None,
        "provider_status": outcome.status if outcome else None,
        "status_code": outcome.status_code if outcome else (error.status if error else None),
        "cost": outcome.cost if outcome else None,
        "currency": outcome.currency if outcome else None,
        "error": reason,
    }
    return values, backoff(row["attempts"]) if again else timedelta(0)


async def send(message_id: int) -> bool:
    """Claims a queued message that is due and sends it (once: the claim is committed before
    the provider is called), recording the answer. True when the provider could not be asked
    or failed on its side (unreachable, a 5xx): the failure is not the message's nor the
    account's."""
    return await send_batch([message_id]) > 0


async def send_batch(message_ids: Sequence[int], gate: asyncio.Semaphore | None = None) -> int:
    """send() for many messages (a batch of usage warnings): the due ones claimed in one
    transaction and each ISP's account on each channel read once, then the provider calls
    (`gate` holds how many go at once: AT_ONCE by default), each answer recorded as soon as it
    comes (those that arrive during one write go in the next, together), so a delivery report,
    which names the provider's message id, finds it recorded. Returns how many failed on the
    provider's side."""
    async with unit_of_work() as session:
        rows = [
            row
            for row in await repository.claim_many(session, message_ids)
            if not await _set_aside(session, row)
        ]  # offers: opted out, or quiet hours
        rows, waiting = await pacing.split(rows)  # the ISP's rate: the rest go next minute
        if waiting:
            await repository.hold(session, [row["id"] for row in waiting], pacing.next_window())
        chosen: dict[tuple[int | None, str], Chosen | None] = {}
        for row in rows:
            key = (row["tenant_id"], row["channel"])
            if key not in chosen:
                chosen[key] = await accounts.choose(session, *key)
    if not rows:
        return 0
    answers: asyncio.Queue[_Answer | None] = asyncio.Queue()
    gate = gate or asyncio.Semaphore(AT_ONCE)

    async def call(row: RowMapping) -> None:
        account = chosen[(row["tenant_id"], row["channel"])]
        outcome, error = None, None
        try:
            if account is not None:
                async with gate:
                    outcome = await _call(account, row)
        except ProviderError as exc:
            error = exc
        except Exception:  # noqa: BLE001 - unknown whether the provider took it: left "sending"
            log.exception("message %s: the call failed; the sweep settles it", row["id"])
            await answers.put(None)
            return
        values, retry_in = _answer(row, account, outcome, error)
        theirs = error is not None and (error.status is None or error.status >= 500)
        await answers.put(_Answer(row, values, retry_in, theirs))

    calls = [asyncio.create_task(call(row)) for row in rows]
    unavailable = 0
    left = len(rows)
    try:
        while left:
            ready = [await answers.get()]
            while not answers.empty():
                ready.append(answers.get_nowait())
            left -= len(ready)
            done = [answer for answer in ready if answer is not None]
            if done:
                async with unit_of_work() as session:
                    for answer in done:
                        await repository.record_answer(
                            session, answer.row["id"], answer.values, answer.retry_in
                        )
            for answer in done:
                _log(answer)
                unavailable += answer.theirs
    finally:
        await asyncio.gather(*calls, return_exceptions=True)
    return unavailable


class _Answer(NamedTuple):
    row: RowMapping
    values: dict[str, Any]  # what record_answer() writes
    retry_in: timedelta
    theirs: bool  # the provider could not be asked, or failed on its side (unreachable, 5xx)


def _log(answer: _Answer) -> None:
    row, values = answer.row, answer.values
    log.info("message %s (%s, try %s): %s", row["id"], row["channel"], row["attempts"],
             values["status"] if values["status"] == "sent" else values["error"])  # fmt: skip


async def _set_aside(session: AsyncSession, row: RowMapping) -> bool:
    """True when a claimed offer is not sent now: its recipient opted out since it was decided
    (skipped, for good) or the ISP's quiet hours are on (held until they end). Decided in the
    claim's transaction, so no other sender ever sees it claimed."""
    if row["purpose"] not in quiet.PROMOTIONAL or row["tenant_id"] is None:
        return False
    tenant_id = row["tenant_id"]
    if not await consent.consents(session, tenant_id, row["recipient"]):
        reason = "the customer opted out of offers after this one was decided"
        await repository.set_aside(session, row["id"], "skipped", reason, None)
        return True
    start, end = await repository.quiet_hours(session, tenant_id)
    until = quiet.quiet_until(datetime.now(UTC), start, end)
    if until is None:
        return False
    reason = f"held for the ISP's quiet hours, until {until:%H:%M} EAT"
    await repository.set_aside(session, row["id"], "held", reason, until)
    return True


async def current(message_id: int) -> Message | None:
    async with unit_of_work() as session:
        return await repository.by_id(session, message_id)


async def deliver(message_id: int) -> Message | None:
    """Sends a queued message if it is due and nobody has yet; returns it as it then stands."""
    await send(message_id)
    return await current(message_id)


async def deliver_quietly(message_id: int) -> None:
    await send(message_id)
