"""Failure budgets in Redis, shared by every API process: staff logins, and on the public portal
wrong voucher codes, M-Pesa codes and promo codes.

An attempt is taken from its budgets *before* it is judged, in one atomic step (a Lua script),
so parallel attempts cannot all slip in between a check and a count; a refused attempt takes
nothing, so hammering a spent budget does not spend another one; an attempt that turns out
right gives its share back. Windows are fixed and start at the first attempt.

On the portal the caller is a device: a hotspot NATs every phone behind one address, so each
phone (its MAC, from the router's redirect) has its own budget, and the address has a larger
one, `portal_address_ceiling` times as big, that caps MAC rotation.
"""

from __future__ import annotations

from dataclasses import dataclass

from api import config
from api.errors import TooManyRequests
from api.security import get_redis

# KEYS: counters; ARGV[1]: window (s); ARGV[2]: 1 for growing lockouts; ARGV[3..]: each
# counter's budget. Returns 0 when taken, else the 1-based index of the first spent budget and its
# seconds left. With growing lockouts, the attempt that spends a budget stretches that counter's
# life to window x 2^k, k being how many times it was spent before within a day (its sibling
# "<key>:spent"), at most a day: each lockout of the same account or address lasts twice as long.
_TAKE = """
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= tonumber(ARGV[i + 2]) then
    return {i, redis.call('TTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  if ARGV[2] == '1' and n == tonumber(ARGV[i + 2]) then
    local spent = redis.call('INCR', key .. ':spent')
    redis.call('EXPIRE', key .. ':spent', 86400)
    local lockout = math.min(tonumber(ARGV[1]) * 2 ^ (spent - 1), 86400)
    redis.call('EXPIRE', key, math.max(lockout, redis.call('TTL', key)))
  end
end
return {0, 0}
"""

# Only while the window's counter lives: a DECR on an expired key would create one forever.
_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


async def take(
    budgets: list[tuple[str, int]], window: int, messages: list[str], *, growing: bool = False
) -> None:
    """One attempt from each (key, budget); 429 with messages[i] if budget i is spent. Redis
    down is an error (503), never a free attempt."""
    keys = [key for key, _ in budgets]
    args = [str(window), "1" if growing else "0", *(str(limit) for _, limit in budgets)]
    spent, ttl = await get_redis().eval(_TAKE, len(keys), *keys, *args)  # type: ignore[misc]
    if spent:
        raise TooManyRequests(messages[int(spent) - 1], retry_after=max(int(ttl), 1))


async def give_back(*keys: str) -> None:
    await get_redis().eval(_GIVE_BACK, len(keys), *keys)  # type: ignore[misc]


@dataclass(frozen=True)
class Caller:
    """A portal visitor: the client address and, when the router said, the phone's MAC."""

    ip: str | None
    mac: str | None = None


def _keys(kind: str, tenant_id: int, caller: Caller) -> tuple[str, str]:
    address = f"failures:{kind}:{tenant_id}:{caller.ip or '-'}"
    return f"{address}:{caller.mac or '-'}", address


async def attempt(kind: str, tenant_id: int, caller: Caller, limit: int, message: str) -> None:
    """Takes one attempt from the device's budget (`limit`) and its address's (the ceiling)."""
    settings = config.get_settings()
    device, address = _keys(kind, tenant_id, caller)
    ceiling = limit * settings.portal_address_ceiling
    window = int(settings.claim_window.total_seconds())
    await take([(device, limit), (address, ceiling)], window, [message, message])


async def succeeded(kind: str, tenant_id: int, caller: Caller) -> None:
    """A right code: its attempt was no guess."""
    await give_back(*_keys(kind, tenant_id, caller))
