"""Failure counters for the public portal (wrong voucher codes, M-Pesa codes, promo codes):
after `limit` failures from one client address within the window, 429 until it ends."""

from __future__ import annotations

from api import config
from api.errors import TooManyRequests
from api.security import get_redis


def key(kind: str, tenant_id: int, ip: str | None) -> str:
    return f"failures:{kind}:{tenant_id}:{ip or '-'}"


async def check(name: str, limit: int, message: str) -> None:
    redis = get_redis()
    if int(await redis.get(name) or 0) >= limit:
        raise TooManyRequests(message, retry_after=max(await redis.ttl(name), 1))


async def fail(name: str) -> None:
    window = int(config.get_settings().claim_window.total_seconds())
    async with get_redis().pipeline(transaction=True) as pipe:
        pipe.set(name, 0, ex=window, nx=True)
        pipe.incr(name)
        await pipe.execute()


async def reset(name: str) -> None:
    await get_redis().delete(name)
