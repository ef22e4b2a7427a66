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

# argon2id at m=12 MiB, t=3, p=1: one of OWASP's equivalent minimums (Password Storage Cheat
# Sheet), the cheapest of them on our 2-vCPU machine: ~20 ms of one core per check. passlib's
# defaults (argon2-cffi's RFC 9106 profile, 64 MiB, t=3, p=4) took ~100 ms and 1.5 cores, and
# as checks run one at a time (password_checks, below) the last of 20 logins at once waited
# ~2 s. bench/staff_login.py measures it: ~0.5 s now, still over issue 13's 300 ms, which no
# OWASP setting reaches here with one check at a time; we keep the floor and the gate. A hash
# made with other parameters still verifies, and is replaced at its owner's next successful
# login (verify_password).
pwd_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__memory_cost=12 * 1024,
    argon2__rounds=3,
    argon2__parallelism=1,
)


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


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether the password matches, and when it does with a hash of other parameters than
    pwd_context's, its new hash for the caller to store. Always runs one argon2 verification,
    against a dummy hash when there is no user, so response time does not tell which emails
    exist. Off the event loop (argon2 is slow on purpose and releases the GIL), within the
    process's budget of checks (a rehash too: it is the same work again)."""
    async with password_checks.slot():
        if password_hash is None:
            await asyncio.to_thread(pwd_context.verify, password, _dummy_hash())
            return False, None
        return await asyncio.to_thread(pwd_context.verify_and_update, password, password_hash)
