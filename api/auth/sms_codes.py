"""One-time codes sent by SMS (logins, enrolment): 6 digits from the CSPRNG, valid 5 minutes,
good for one check, at most 3 sent per person per 15 minutes. Only the code's hash is kept, in
Redis; checking and burning it is one atomic step, so two requests with one code cannot both
pass. Sending is the caller's (through the SMS channel)."""

from __future__ import annotations

import hashlib
import secrets

from api import limits
from api.security import get_redis

TTL_SECONDS = 300
SENDS = 3
SEND_WINDOW_SECONDS = 900

# KEYS[1]: the code's key; ARGV[1]: the hash of what was typed. 1 and the code is gone, or 0.
_CHECK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def _key(staff_id: int, purpose: str) -> str:
    return f"sms-code:{purpose}:{staff_id}"


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def issue(staff_id: int, purpose: str) -> str:
    """A new code for this person and purpose (the previous one stops working); 429 after
    SENDS codes within the window."""
    await limits.take(
        [(f"sms-code:sends:{staff_id}", SENDS)],
        SEND_WINDOW_SECONDS,
        ["Three codes were sent in the last 15 minutes; use the last one, or wait"],
    )
    code = f"{secrets.randbelow(1_000_000):06d}"
    await get_redis().set(_key(staff_id, purpose), _hash(code), ex=TTL_SECONDS)
    return code


async def check(staff_id: int, purpose: str, code: str) -> bool:
    """True once for the live code; it is burnt by a right guess, kept by a wrong one (wrong
    codes count in the login's own budgets)."""
    typed = "".join(ch for ch in code if not ch.isspace())
    if len(typed) != 6 or not (typed.isascii() and typed.isdigit()):
        return False
    found = await get_redis().eval(_CHECK, 1, _key(staff_id, purpose), _hash(typed))  # type: ignore[misc]
    return bool(found)
