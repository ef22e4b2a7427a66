"""A bounded gate for expensive work in one process: at most `size` at once, `waiting` more
queued, and past that a refusal at once rather than a pile of requests (and the memory they
hold) behind each other. Password checks (api.security) and the sheet workers (api.cpu) use it;
sizes are read from the settings on each call, so a changed setting takes effect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class Gate:
    def __init__(
        self, size: Callable[[], int], waiting: Callable[[], int], refuse: Callable[[], Exception]
    ) -> None:
        self._size, self._waiting, self._refuse = size, waiting, refuse
        self._semaphore: asyncio.Semaphore | None = None
        self._semaphore_size = 0
        self.admitted = 0  # running or waiting
        self.running = 0
        self.peak = 0  # most ever running at once (tests, metrics)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        size = self._size()
        if self._semaphore is None or self._semaphore_size != size:
            self._semaphore, self._semaphore_size = asyncio.Semaphore(size), size
        if self.admitted >= size + self._waiting():
            raise self._refuse()
        self.admitted += 1
        try:
            async with self._semaphore:
                self.running += 1
                self.peak = max(self.peak, self.running)
                try:
                    yield
                finally:
                    self.running -= 1
        finally:
            self.admitted -= 1
