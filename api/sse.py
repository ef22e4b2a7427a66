"""Server-sent event streams, bounded and given back: the portal's live purchase status
(api.payments) and the dashboard's live figures (api.admin.live) each hold a `Slots`.

A stream takes one of `total` slots of this process and one of `per_key` for its key (the
client's address, or the staff member), or is refused with 429 before it starts. The counters
are per process on purpose: what they protect is this process's memory and sockets, and a
counter in Redis would leak slots whenever a process died holding them. `SlotResponse` frees the
slot however the stream ends: finished, lifetime over, client gone (Starlette cancels the body
when the client disconnects), or never started."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse
from prometheus_client import Gauge
from starlette.types import Receive, Scope, Send

from api.errors import TooManyRequests


def event(name: str, data: dict[str, Any] | str) -> str:
    """One SSE event: JSON for a dict; text (an HTML fragment) one `data:` line per line."""
    text = json.dumps(data, default=str) if isinstance(data, dict) else data
    lines = "".join(f"data: {line}\n" for line in text.splitlines() or [""])
    return f"event: {name}\n{lines}\n"


class Slots:
    def __init__(
        self, *, total: Callable[[], int], per_key: Callable[[], int], gauge: Gauge,
        full: str, key_full: str, retry_after: int = 30,
    ) -> None:  # fmt: skip
        self._total, self._per_key, self._gauge = total, per_key, gauge
        self._full, self._key_full, self._retry_after = full, key_full, retry_after
        self._by_key: Counter[str] = Counter()

    def open(self) -> int:
        """Streams open in this process (also the gauge)."""
        return self._by_key.total()

    def acquire(self, key: str | None) -> Slot:
        """A slot for a stream of `key`, or 429 when that key or the process is full."""
        key = key or "-"
        if self._by_key.total() >= self._total():
            raise TooManyRequests(self._full, retry_after=self._retry_after)
        if self._by_key[key] >= self._per_key():
            raise TooManyRequests(self._key_full, retry_after=self._retry_after)
        self._by_key[key] += 1
        self._gauge.set(self._by_key.total())
        return Slot(self, key)

    def _release(self, key: str) -> None:
        self._by_key[key] -= 1
        if self._by_key[key] <= 0:
            del self._by_key[key]  # no entry per key ever seen
        self._gauge.set(self._by_key.total())


class Slot:
    """One stream's place; release() is safe to call more than once."""

    def __init__(self, slots: Slots, key: str) -> None:
        self._slots, self.key, self.held = slots, key, True

    def release(self) -> None:
        if self.held:
            self.held = False
            self._slots._release(self.key)


class SlotResponse(StreamingResponse):
    """An event stream that frees its slot however it ends."""

    def __init__(self, slot: Slot, body: AsyncIterator[str]) -> None:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        super().__init__(body, media_type="text/event-stream", headers=headers)
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
