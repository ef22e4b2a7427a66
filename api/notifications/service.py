"""Turning notifications into messages. A notification was decided in the transaction of the
fact that caused it (a usage warning by radius_accounting(), migration 0016); here, in one
transaction per batch, each is claimed, worded in the ISP's language, and queued as a message
whose idempotency key names the notification and the channel, then marked done. A worker that
dies before the commit leaves the notification new (the next run takes it); one that dies after
leaves queued messages that the SMS sweep sends; a second worker skips what the first holds. So
each notification becomes each message once."""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import unit_of_work
from api.errors import AppError
from api.messaging import outbox
from api.messaging import repository as messages_repository
from api.notifications import repository, rules, templates
from api.notifications.schemas import NotificationOut, RuleOut
from api.tenancy import Principal

log = logging.getLogger(__name__)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
BATCH = 100
# The purpose of each event's messages (message.purpose: the messages list filters by it).
PURPOSES = {
    "usage.data": "usage-warning",
    "usage.time": "usage-warning",
    "expiry": "expiry-warning",
    "payment": "payment",
    "outage": "outage",
    "subscriber.due_soon": "subscriber-reminder",
    "subscriber.overdue": "subscriber-dunning",
}
NAIROBI = ZoneInfo("Africa/Nairobi")
# A voucher keeps its buyer's phone, not an e-mail address: these channels reach a customer.
CUSTOMER_CHANNELS = ("sms", "whatsapp")
SENDING = 16  # provider calls at once per process (api/outbound.py keeps 16 connections)
_sending: set[asyncio.Task[None]] = set()
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def dispatch(limit: int = BATCH) -> dict[str, int]:
    """One batch of new notifications: {"done": n, "skipped": n}. Their messages are queued in
    the batch's transaction and, once it commits, handed to background sends (SENDING at a time
    per process), so the next batch is decided meanwhile; a send lost with the process is the
    SMS sweep's."""
    counts = {"done": 0, "skipped": 0}
    queued: list[int] = []
    async with unit_of_work() as session:
        memo = _Memo(session)
        for row in await repository.claim_new(session, limit):
            try:
                async with session.begin_nested():  # one bad notification spoils no other
                    status, outcome, messages = await _decide(session, row, memo)
            except AppError as exc:
                status, outcome, messages = "skipped", exc.detail, []
                log.warning("notification %s not sent: %s", row["id"], exc.detail)
            await repository.finish(session, row["id"], status, outcome)
            counts[status] += 1
            queued += messages
    if queued:
        task = asyncio.create_task(_send(queued), name=f"messages-{queued[0]}")
        _sending.add(task)
        task.add_done_callback(_sending.discard)
    return counts


async def _send(message_ids: list[int]) -> None:
    try:
        await outbox.send_batch(message_ids, _gate())
    except Exception:  # noqa: BLE001 - the SMS sweep retries what is still queued
        log.exception("messages %s...: not sent now; the sweep will", message_ids[0])


def _gate() -> asyncio.Semaphore:
    """This event loop's semaphore (a test run may use more than one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _semaphores:
        _semaphores[loop] = asyncio.Semaphore(SENDING)
    return _semaphores[loop]


async def settle() -> None:
    """Waits for the sends started so far (tests; the worker's shutdown)."""
    while _sending:
        await asyncio.gather(*list(_sending), return_exceptions=True)


class _Memo:
    """What a batch asks of each ISP once (its rules, limits, WhatsApp account), not once per
    notification: a thousand warnings at one ISP are one read of each."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._rules: dict[tuple[int, str], RuleOut] = {}
        self._limits: dict[int, RowMapping] = {}
        self._whatsapp: dict[int, bool] = {}

    async def rule(self, tenant_id: int, event: str) -> RuleOut:
        if (tenant_id, event) not in self._rules:
            self._rules[tenant_id, event] = await rules.rule_for(self.session, tenant_id, event)
        return self._rules[tenant_id, event]

    async def limits(self, tenant_id: int) -> RowMapping:
        if tenant_id not in self._limits:
            self._limits[tenant_id] = await repository.limits(self.session, tenant_id)
        return self._limits[tenant_id]

    async def has_whatsapp(self, tenant_id: int) -> bool:
        if tenant_id not in self._whatsapp:
            found = await messages_repository.whatsapp_settings(self.session, tenant_id)
            self._whatsapp[tenant_id] = found is not None
        return self._whatsapp[tenant_id]


async def _decide(
    session: AsyncSession, row: RowMapping, memo: _Memo
) -> tuple[str, str, list[int]]:
    """(status, outcome, the ids of the messages queued), following the ISP's rule for the event
    and its limits: one message per chosen channel that reaches the customer's phone."""
    tenant_id, event = row["tenant_id"], row["event"]
    if event not in templates.EVENTS:
        return "skipped", f"no wording for {event}", []
    rule = await memo.rule(tenant_id, event)
    if event in templates.SUBSCRIBER_EVENTS:
        return await _tell_subscriber(session, row, rule, memo)
    if not rule.enabled:
        return "skipped", "the ISP turned this event off", []
    if event in templates.STAFF_EVENTS:
        return await _tell_staff(session, row, rule)
    channels = [c for c in rule.channels if c in CUSTOMER_CHANNELS]
    if not channels:
        return "skipped", "no channel reaches a customer (a voucher keeps a phone, no e-mail)", []
    if row["voucher_id"] is None:
        return "skipped", "the voucher is gone", []
    facts = await repository.voucher_facts(session, tenant_id, row["voucher_id"])
    if facts is None:
        return "skipped", "the voucher is gone", []
    if not facts["phone"]:
        return "skipped", "no phone number on the voucher (a printed one)", []
    recipient = "+" + facts["phone"].lstrip("+")
    if not E164.fullmatch(recipient):
        reason = "the voucher's phone number is not a whole one (a till's masked payer)"
        return "skipped", reason, []
    refused = await refusal(session, tenant_id, recipient, await memo.limits(tenant_id))
    if refused is not None:
        return "skipped", refused, []
    wording = rule.template_sw if facts["language"] == "sw" else rule.template_en
    body = templates.render(wording, _values(facts, row["details"]))
    queued, used = [], []
    for channel in channels:
        if channel == "whatsapp" and not await memo.has_whatsapp(tenant_id):
            continue  # chosen, but the ISP has no WhatsApp account (yet)
        message_id, created = await outbox.decide(
            session, tenant_id, channel, recipient, body, PURPOSES.get(event, "notification"),
            f"notification:{row['id']}:{channel}",
        )  # fmt: skip
        used.append(channel)
        if created:
            queued.append(message_id)
    if not used:
        return "skipped", "the ISP has no account on its chosen channels", []
    return "done", ",".join(used), queued


async def _tell_subscriber(
    session: AsyncSession, row: RowMapping, rule: RuleOut, memo: _Memo
) -> tuple[str, str, list[int]]:
    """A reminder or a dunning day's SMS for a subscriber, unless they paid (their due date
    moved) or were suspended since it was decided. (A dunning day's M-Pesa prompt is sent by the
    sweep that decided it: api/bills/tasks.py.)"""
    tenant_id, details = row["tenant_id"], row["details"]
    facts = None
    if row["subscriber_id"] is not None:
        facts = await repository.subscriber_facts(session, tenant_id, row["subscriber_id"])
    if facts is None:
        return "skipped", "the subscriber is gone", []
    if facts["status"] != "active":
        return "skipped", "the subscriber is suspended", []
    due_date = facts["due_at"].astimezone(NAIROBI).strftime("%Y-%m-%d")
    if due_date != details.get("due"):
        return "skipped", "paid since: the due date moved", []
    return await _text_subscriber(session, row, rule, memo, facts, due_date)


async def _text_subscriber(
    session: AsyncSession, row: RowMapping, rule: RuleOut, memo: _Memo, facts: dict[str, Any],
    due_date: str,
) -> tuple[str, str, list[int]]:  # fmt: skip
    tenant_id, event = row["tenant_id"], row["event"]
    if not rule.enabled:
        return "skipped", "the ISP turned this event off", []
    channels = [c for c in rule.channels if c in CUSTOMER_CHANNELS]
    if not channels:
        return "skipped", "no channel reaches a subscriber (they have a phone, no e-mail)", []
    if not facts["phone"]:
        return "skipped", "no phone number on the subscriber", []
    recipient = "+" + facts["phone"].lstrip("+")
    refused = await refusal(session, tenant_id, recipient, await memo.limits(tenant_id))
    if refused is not None:
        return "skipped", refused, []
    price, balance = facts["price"], facts["balance"]
    values = {
        "isp": facts["isp"], "name": facts["name"], "username": facts["username"],
        "account": facts["username"], "plan": facts["plan"], "due_date": due_date,
        "amount": max(price - balance, 1) if price > 0 else 0, "days": row["details"]["days"],
        "paybill": facts["paybill"] or "-", "support": facts["support"] or "",
    }  # fmt: skip
    wording = rule.template_sw if facts["language"] == "sw" else rule.template_en
    body = templates.render(wording, values)
    queued, used = [], []
    for channel in channels:
        if channel == "whatsapp" and not await memo.has_whatsapp(tenant_id):
            continue
        message_id, created = await outbox.decide(
            session, tenant_id, channel, recipient, body, PURPOSES[event],
            f"notification:{row['id']}:{channel}",
        )  # fmt: skip
        used.append(channel)
        if created:
            queued.append(message_id)
    if not used:
        return "skipped", "the ISP has no account on its chosen channels", []
    return "done", ",".join(used), queued


async def refusal(
    session: AsyncSession, tenant_id: int, recipient: str, limits: RowMapping | None = None
) -> str | None:
    """Why the ISP's limits refuse a customer message to `recipient` now: a number outside its
    country prefixes, or the recipient's daily cap reached; None when it may go. `limits`: the
    ISP's, when the caller has read them already."""
    limits = limits or await repository.limits(session, tenant_id)
    if not recipient.startswith(tuple(limits["message_prefixes"].split(","))):
        return f"{recipient[:5]}... is outside the ISP's country prefixes"
    if await repository.sent_today(session, tenant_id, recipient) >= limits["message_daily_cap"]:
        return "the recipient's daily cap of messages is reached"
    return None


async def _tell_staff(
    session: AsyncSession, row: RowMapping, rule: RuleOut
) -> tuple[str, str, list[int]]:
    """An alert for the ISP's active owners and admins: by e-mail to each (and by SMS to those
    with a phone, when the ISP chose SMS), one message per person and channel."""
    tenant_id = row["tenant_id"]
    people = await repository.alerted_staff(session, tenant_id)
    isp = await repository.isp_name(session, tenant_id)
    values = {"isp": isp, **{k: str(v) for k, v in row["details"].items()}}
    body = templates.render(rule.template_en, values)
    queued, used = [], set()
    for person in people:
        addresses = {"email": person["email"], "sms": person["phone"]}
        for channel in rule.channels:
            to = addresses.get(channel)
            if not to:
                continue
            message_id, created = await outbox.decide(
                session, tenant_id, channel, to, body, "staff-alert",
                f"notification:{row['id']}:{channel}:{person['id']}",
                subject=f"{isp}: {templates.EVENTS[row['event']].split(': ', 1)[-1]}"
                if channel == "email" else None,
            )  # fmt: skip
            used.add(channel)
            if created:
                queued.append(message_id)
    if not used:
        return "skipped", "no owner or admin to tell on the chosen channels", []
    return "done", ",".join(sorted(used)), queued


async def recent(
    session: AsyncSession, principal: Principal, limit: int, before: int | None
) -> list[NotificationOut]:
    rows = await repository.recent(session, principal.tenant_id, limit, before)
    return [NotificationOut.model_validate(row) for row in rows]


def _values(facts: dict[str, Any], details: dict[str, Any]) -> dict[str, object]:
    return {
        "isp": facts["isp"],
        "code": facts["code"],
        "package": facts["package"],
        "percent": details.get("percent", ""),
        "data_left": templates.amount_of_data(facts["bytes_left"]),
        "time_left": templates.amount_of_time(facts["seconds_left"]),
        "support": facts["support"] or "",
        "minutes": details.get("minutes", ""),
        "amount": details.get("amount", ""),
        "message": details.get("message", ""),
    }
