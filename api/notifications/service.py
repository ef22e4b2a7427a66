"""Turning notifications into messages. A notification was decided in the transaction of the
fact that caused it (a usage warning by radius_accounting(), migration 0016); here, in one
transaction per batch, each is claimed, worded in the ISP's language, and queued as a message
whose idempotency key names the notification and the channel, then marked done. A worker that
dies before the commit leaves the notification new (the next run takes it); one that dies after
leaves queued messages that the SMS sweep sends; a second worker skips what the first holds. So
each notification becomes each message once."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import unit_of_work
from api.errors import AppError
from api.notifications import repository, templates
from api.sms import service as sms

log = logging.getLogger(__name__)
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
BATCH = 100


async def dispatch(limit: int = BATCH) -> dict[str, int]:
    """One batch of new notifications: {"done": n, "skipped": n}."""
    counts = {"done": 0, "skipped": 0}
    async with unit_of_work() as session:
        for row in await repository.claim_new(session, limit):
            try:
                async with session.begin_nested():  # one bad notification spoils no other
                    status, outcome = await _decide(session, row)
            except AppError as exc:
                status, outcome = "skipped", exc.detail
                log.warning("notification %s not sent: %s", row["id"], exc.detail)
            await repository.finish(session, row["id"], status, outcome)
            counts[status] += 1
    return counts


async def _decide(session: AsyncSession, row: RowMapping) -> tuple[str, str]:
    if row["event"] not in templates.DEFAULTS:
        return "skipped", f"no wording for {row['event']}"
    if row["voucher_id"] is None:
        return "skipped", "the voucher is gone"
    facts = await repository.voucher_facts(session, row["tenant_id"], row["voucher_id"])
    if facts is None:
        return "skipped", "the voucher is gone"
    if not facts["phone"]:
        return "skipped", "no phone number on the voucher (a printed one)"
    body = templates.render(
        templates.DEFAULTS[row["event"]][facts["language"]], _values(facts, row["details"])
    )
    recipient = "+" + facts["phone"].lstrip("+")
    if not E164.fullmatch(recipient):
        return "skipped", "the voucher's phone number is not a whole one (a till's masked payer)"
    await sms.send_sms(
        session, row["tenant_id"], recipient, body, "usage-warning",
        f"notification:{row['id']}:sms",
    )  # fmt: skip
    return "done", "sms"


def _values(facts: dict[str, Any], details: dict[str, Any]) -> dict[str, object]:
    return {
        "isp": facts["isp"],
        "code": facts["code"],
        "package": facts["package"],
        "percent": details.get("percent", ""),
        "data_left": templates.amount_of_data(facts["bytes_left"]),
        "time_left": templates.amount_of_time(facts["seconds_left"]),
        "support": facts["support"] or "",
    }
