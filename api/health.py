"""/healthz: PostgreSQL, Redis and FreeRADIUS (RADIUS Status-Server, RFC 5997) must answer;
the worker's heartbeat age is reported but does not fail the check."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import struct
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from api.config import get_settings
from api.db import get_engine
from api.security import get_redis

TIMEOUT = 1.0
STATUS_SERVER = 12
MESSAGE_AUTHENTICATOR = 80
HEARTBEAT_KEY = "worker:heartbeat"


def status_server_packet(secret: bytes, identifier: int, authenticator: bytes) -> bytes:
    """Code 12 with only a Message-Authenticator: HMAC-MD5 over the whole packet with the
    attribute's value zeroed (RFC 3579 section 3.2)."""
    length = 20 + 18
    zeroed = (
        struct.pack("!BBH", STATUS_SERVER, identifier, length)
        + authenticator
        + struct.pack("!BB", MESSAGE_AUTHENTICATOR, 18)
        + bytes(16)
    )
    mac = hmac.new(secret, zeroed, hashlib.md5).digest()
    return zeroed[:-16] + mac


class _OneReply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.reply.done():
            self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable
        if not self.reply.done():
            self.reply.set_exception(exc)


async def check_freeradius() -> None:
    settings = get_settings()
    packet = status_server_packet(
        settings.radius_status_secret.get_secret_value().encode(),
        int.from_bytes(os.urandom(1), "big"),
        os.urandom(16),
    )
    # FreeRADIUS knows the health checker as a client at this source address, with its own
    # secret, so it needs no router entry.
    source = settings.radius_status_source
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _OneReply,
        remote_addr=(settings.radius_host, settings.radius_auth_port),
        local_addr=(source, 0) if source else None,
    )
    try:
        transport.sendto(packet)
        await asyncio.wait_for(protocol.reply, TIMEOUT)
    finally:
        transport.close()


async def check_postgres() -> None:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


async def check_redis() -> None:
    await get_redis().ping()


async def _run(check: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check(), TIMEOUT * 2)
    except Exception as exc:  # any failure is reported, never raised
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
    return {"ok": True}


async def worker_heartbeat_age() -> float | None:
    try:
        raw = await get_redis().get(HEARTBEAT_KEY)
    except Exception:  # Redis failure is reported by its own check
        return None
    if not raw:
        return None
    return round((datetime.now(UTC) - datetime.fromisoformat(raw)).total_seconds(), 1)


async def health() -> tuple[bool, dict[str, Any]]:
    names = ("postgres", "redis", "freeradius")
    results = await asyncio.gather(_run(check_postgres), _run(check_redis), _run(check_freeradius))
    checks: dict[str, Any] = dict(zip(names, results, strict=True))
    ok = all(r["ok"] for r in results)
    checks["worker"] = {"heartbeat_age_seconds": await worker_heartbeat_age()}
    return ok, {"status": "ok" if ok else "fail", "checks": checks}
