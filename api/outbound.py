"""Kept HTTP clients for the providers we call (Daraja, Africa's Talking, Meta): one per event
loop and provider, reused by every request.

Making an httpx.AsyncClient loads the CA bundle into a fresh TLS context: about 70 ms of CPU on
our 2-core reference machine. One per STK push or per message made that the cost of the call
(a burst of 1,000 usage warnings went at ~18 a second); a kept client also reuses its
connections, so a burst pays one TLS handshake per connection, not per message. Timeouts are
per provider, as each was before."""

from __future__ import annotations

import asyncio
import weakref

import httpx

# Connections per provider and process. More do not send faster here: httpcore walks every
# connection of its pool for each request, so a pool of 64 spent a fifth of a burst's CPU there.
CONNECTIONS = 8
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def client(name: str, timeout: float) -> httpx.AsyncClient:
    """This event loop's client for `name` (a test run may use more than one loop; a client is
    bound to the loop that opened its connections)."""
    loop = asyncio.get_running_loop()
    kept = _clients.setdefault(loop, {})
    found = kept.get(name)
    if found is None or found.is_closed:
        found = httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
        )
        kept[name] = found
    return found


async def close_all() -> None:
    """Closes this loop's clients (the API's and the worker's shutdown)."""
    kept = _clients.pop(asyncio.get_running_loop(), {})
    for found in kept.values():
        await found.aclose()
