"""Failed-login counter per (tenant, email, client IP) in Redis, over a fixed window that starts
at the first failure."""

from __future__ import annotations

import hashlib

from api.config import get_settings
from api.errors import TooManyRequests
from api.security import get_redis


def _key(tenant_slug: str, email: str, ip: str | None) -> str:
    ident = f"{tenant_slug.lower()}\0{email.strip().lower()}\0{ip or '-'}"
    return "login:failures:" + hashlib.sha256(ident.encode()).hexdigest()


async def check(tenant_slug: str, email: str, ip: str | None) -> None:
    """Raise 429 while the limit is reached, whatever the password."""
    redis = get_redis()
    key = _key(tenant_slug, email, ip)
    failures = int(await redis.get(key) or 0)
    if failures >= get_settings().login_max_failures:
        ttl = await redis.ttl(key)
        raise TooManyRequests(
            "Too many failed logins; wait before trying again",
            retry_after=ttl if ttl > 0 else 1,
        )


async def fail(tenant_slug: str, email: str, ip: str | None) -> None:
    window = int(get_settings().login_lockout.total_seconds())
    key = _key(tenant_slug, email, ip)
    async with get_redis().pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
        await pipe.execute()


async def reset(tenant_slug: str, email: str, ip: str | None) -> None:
    await get_redis().delete(_key(tenant_slug, email, ip))
