"""Password hashing (argon2, within a per-process budget of checks) and the shared Redis client.
Login sessions are api.staff_sessions."""

from __future__ import annotations

import asyncio
import secrets
from functools import lru_cache

from passlib.context import CryptContext
from redis.asyncio import Redis

from api.config import get_settings
from api.errors import ServiceUnavailable
from api.gates import Gate

pwd_context = CryptContext(schemes=["argon2"], deprecated="auto")


@lru_cache
def get_redis() -> Redis:
    """One shared client (and connection pool) per process."""
    return Redis.from_url(get_settings().redis_url, decode_responses=True)


def hash_password(password: str) -> str:
    return pwd_context.hash(password)


@lru_cache
def _dummy_hash() -> str:
    return pwd_context.hash(secrets.token_urlsafe(16))


def _too_many_sign_ins() -> Exception:
    return ServiceUnavailable(
        "Too many sign-ins at once; try again in a few seconds", headers={"Retry-After": "2"}
    )


# The process's budget of argon2 checks; process-wide because the CPU it protects is.
password_checks = Gate(
    lambda: get_settings().password_checks_concurrent,
    lambda: get_settings().password_checks_waiting,
    _too_many_sign_ins,
)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Always runs one argon2 verification, against a dummy hash when there is no user, so
    response time does not tell which emails exist. Off the event loop (argon2 is slow on
    purpose and releases the GIL), within the process's budget of checks."""
    async with password_checks.slot():
        if password_hash is None:
            await asyncio.to_thread(pwd_context.verify, password, _dummy_hash())
            return False
        return await asyncio.to_thread(pwd_context.verify, password, password_hash)
