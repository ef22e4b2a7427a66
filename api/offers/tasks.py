"""The worker's part: a broadcast becomes messages, BATCH recipients per transaction.

Each batch, in one transaction: the broadcast's row is locked (another worker skips it), the
next consenting phones after its cursor are read, each gets one message per channel decided
under the key broadcast:<id>:<phone>:<channel>, and the cursor moves past them. So a worker that
dies mid-batch leaves the cursor where it was and none of that batch decided (the next run does
the batch again), one that dies after the commit leaves messages the outbox sweep sends, and a
second worker never expands the same broadcast at the same moment: each phone is decided once,
nobody is left out. A phone at the ISP's daily cap gets its messages decided as skipped, with
why; the country prefixes were applied in choosing the phones. Messages are sent once the batch
commits, SENDING at a time (an offer held by quiet hours or to a phone opted out meanwhile is
set aside by the outbox when its turn comes)."""

from __future__ import annotations

import asyncio
import logging

from api.db import unit_of_work
from api.messaging import consent, outbox
from api.messaging import repository as messages
from api.notifications import service as notifications
from api.offers import queue, repository, wording

log = logging.getLogger(__name__)
BATCH = 100
PAUSE = 1.0  # seconds between looks at an empty queue
SENDING = 48


async def expand_batch(limit: int = BATCH) -> int:
    """One batch of the oldest broadcast still expanding; how many phones it decided (0: none
    waiting). The messages it decided are sent before this returns."""
    decided: list[int] = []
    async with unit_of_work() as session:
        broadcast = await queue.claim(session)
        if broadcast is None:
            return 0
        tenant_id, broadcast_id = broadcast["tenant_id"], broadcast["id"]
        phones = await consent.next_phones(
            session, tenant_id, broadcast["prefixes"], broadcast["created_at"],
            broadcast["cursor"], limit,
        )  # fmt: skip
        for phone in phones:
            recipient = phone["phone"]
            refused = await notifications.refusal(session, tenant_id, recipient)
            body = wording.offer_body(broadcast["body"], broadcast["stop_to"], phone["language"])
            for channel in broadcast["channels"]:
                message_id, created = await outbox.decide(
                    session, tenant_id, channel, recipient, body, "offer",
                    f"broadcast:{broadcast_id}:{recipient}:{channel}", broadcast_id=broadcast_id,
                )  # fmt: skip
                if created and refused is not None:
                    await messages.skip(session, message_id, refused)
                elif created:
                    decided.append(message_id)
        cursor = phones[-1]["phone"] if phones else broadcast["cursor"]
        await repository.advance(session, tenant_id, broadcast_id, cursor, len(phones) < limit)
    await _send(decided)
    return max(len(phones), 1)


async def _send(message_ids: list[int]) -> None:
    gate = asyncio.Semaphore(SENDING)

    async def one(message_id: int) -> None:
        async with gate:
            try:
                await outbox.send(message_id)
            except Exception:  # noqa: BLE001 - the outbox sweep sends what is still queued
                log.exception("offer message %s: not sent now; the sweep will", message_id)

    await asyncio.gather(*(one(m) for m in message_ids))


async def drain(limit: int = BATCH) -> int:
    """Every broadcast waiting, batch after batch; how many batches."""
    batches = 0
    while await expand_batch(limit):
        batches += 1
    return batches


async def run_forever() -> None:
    while True:
        try:
            await drain()
        except asyncio.CancelledError:
            raise
        except Exception:  # a database outage: try again, never die
            log.exception("offers: expansion failed; retrying")
            await asyncio.sleep(5)
        await asyncio.sleep(PAUSE)
