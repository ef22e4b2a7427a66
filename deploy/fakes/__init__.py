"""Fake providers for tests and the demo. Their callbacks go out through one kept HTTP client
per event loop: making an httpx.AsyncClient costs ~70 ms of CPU (a fresh TLS context), which
made a fake posting one delivery report per message the slowest part of a burst."""

from __future__ import annotations

import asyncio
import weakref

import httpx

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def callbacks() -> httpx.AsyncClient:
    """This loop's client for posting callbacks (5 s timeout, as each fake had)."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        found = _clients[loop] = httpx.AsyncClient(
            # Few connections: httpcore checks each pooled connection on every request.
            timeout=5,
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        )
    return found
