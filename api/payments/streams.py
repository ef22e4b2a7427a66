"""What the live purchase status streams (endpoints.py) hold, bounded and given back.

Slots (api.sse): a stream takes one of `portal_streams_total` slots of this process and one of
`portal_streams_per_address` for its client address, or is refused with 429 before it starts.

Announcements: ONE Redis pub/sub connection per process, subscribed to every purchase channel,
wakes the streams watching that purchase (a dict of events), instead of a Redis connection per
stream. It runs while at least one stream is open and reconnects after a Redis failure; the
streams poll the database meanwhile, so a lost announcement costs a poll interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from redis.exceptions import RedisError

from api.config import get_settings
from api.metrics import PORTAL_STREAMS
from api.security import get_redis
from api.sse import Slot, Slots

log = logging.getLogger(__name__)
PATTERN = "purchase:*"  # channel()
RETRY_AFTER = 30  # seconds; streams are short, a slot frees up soon

_watchers: dict[str, set[asyncio.Event]] = {}
_listener: asyncio.Task[None] | None = None


def channel(public_id: str) -> str:
    """Redis pub/sub channel on which a purchase's status changes are announced."""
    return f"purchase:{public_id}"


async def announce(public_id: str) -> None:
    """Wakes the portal's live status stream; it re-reads the database, so a lost message only
    costs a poll interval."""
    try:
        await get_redis().publish(channel(public_id), "changed")
    except Exception:  # noqa: BLE001 - the stream polls anyway
        log.warning("could not announce purchase %s", public_id)


SLOTS = Slots(
    total=lambda: get_settings().portal_streams_total,
    per_key=lambda: get_settings().portal_streams_per_address,
    gauge=PORTAL_STREAMS,
    full="Too many people are watching payments right now; check again shortly",
    key_full="Too many payment status pages are open from your connection; close some and retry",
    retry_after=RETRY_AFTER,
)


def open_streams() -> int:
    """Streams open in this process (also the mnetifi_portal_streams_open gauge)."""
    return SLOTS.open()


def acquire(address: str | None) -> Slot:
    """A slot for a stream from `address`, or 429 when that address or the process is full."""
    return SLOTS.acquire(address)


@contextlib.contextmanager
def watching(channel: str) -> Iterator[asyncio.Event]:
    """An event set whenever `channel` is announced, for as long as the block runs."""
    global _listener
    event = asyncio.Event()
    _watchers.setdefault(channel, set()).add(event)
    if _listener is None or _listener.done():
        _listener = asyncio.create_task(_listen(), name="purchase-announcements")
    try:
        yield event
    finally:
        watchers = _watchers.get(channel, set())
        watchers.discard(event)
        if not watchers:
            _watchers.pop(channel, None)
        if not _watchers and _listener is not None:
            _listener.cancel()  # no stream left: give the Redis connection back
            _listener = None


async def _listen() -> None:
    """Fans announcements out to the watching streams, reconnecting after Redis failures."""
    pause = 0.5
    while True:
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(PATTERN)
            pause = 0.5
            async for message in pubsub.listen():
                for event in _watchers.get(message["channel"], ()):
                    event.set()
        except (RedisError, OSError) as exc:
            log.warning("purchase announcements lost (%s); reconnecting in %.1f s", exc, pause)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(pause)
        pause = min(pause * 2, 10.0)
