"""Staff login sessions, in Redis: what a browser's cookie (or an API client's bearer header)
names after a login.

The id is 32 random bytes the client holds; Redis holds the session under the SHA-256 of it,
so a copy of Redis holds no usable id. A session ends when:

- it has not been used for `session_idle` (30 min): the key's TTL, pushed back on use;
- it is `session_absolute` old (12 h), used or not: checked on every load;
- its person logs out, ends it from "my sessions", or is deactivated, changes role or password
  (`end_all`: every session of a person is indexed under them, so this is one step);
- it is rotated: a login that passes its password, then its second factor, gets a new id each
  time, so an id seen before either step (a fixated cookie) is worth nothing after it.

Each session carries its own CSRF token (`csrf`), which forms and scripts send back with every
state-changing request made with the cookie (api.csrf).

Redis being down is an error (503), never "anonymous" or "still logged in": sessions fail
closed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import asdict, dataclass, replace
from typing import Literal

from redis.exceptions import RedisError

from api.config import get_settings
from api.errors import ServiceUnavailable
from api.security import get_redis

Stage = Literal["second_factor", "enrol", "full"]
# Writes of "last used" at most this often per session: a page load makes many requests.
TOUCH_EVERY = 60


@dataclass(frozen=True)
class StaffSession:
    """What a session knows; `stage` is how far its login got: "second_factor" (password right,
    code still owed), "enrol" (2FA required by the ISP, not set up yet: may only enrol), "full"."""

    staff_id: int
    tenant_id: int | None  # None for platform operators (then staff_id is the operator's id)
    stage: Stage
    created: float
    last_used: float
    ip: str | None
    user_agent: str
    csrf: str
    key: str = ""  # the hashed id, for listing and ending; never the id itself

    @property
    def complete(self) -> bool:
        return self.stage == "full"


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def key_of(session_id: str) -> str:
    """The key a session is listed and ended by ("my sessions"): useless as a login."""
    return _hash(session_id)


def _key(hashed: str) -> str:
    return f"staff-session:{hashed}"


def _index(person_id: int, operator: bool = False) -> str:
    """The set of a person's session keys; operators' ids are another table's, so another set."""
    return f"{'operator' if operator else 'staff'}-sessions:{person_id}"


def _index_of(s: StaffSession) -> str:
    return _index(s.staff_id, s.tenant_id is None)


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "Sign-in is unavailable for a moment; try again", headers={"Retry-After": "5"}
    )


def _ttl(created: float, now: float) -> int:
    """Milliseconds the session may still live: the idle timeout, cut at the absolute one."""
    settings = get_settings()
    left = settings.session_absolute.total_seconds() - (now - created)
    return max(int(min(settings.session_idle.total_seconds(), left) * 1000), 0)


async def _write(hashed: str, s: StaffSession) -> None:
    data = {k: ("" if v is None else str(v)) for k, v in asdict(s).items() if k != "key"}
    ttl = _ttl(s.created, s.last_used)
    redis = get_redis()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(_key(hashed))
        pipe.hset(_key(hashed), mapping=data)
        pipe.pexpire(_key(hashed), max(ttl, 1))
        pipe.sadd(_index_of(s), hashed)
        # The index outlives every session in it by at most the absolute timeout.
        pipe.expire(_index_of(s), int(get_settings().session_absolute.total_seconds()))
        await pipe.execute()


async def create(
    staff_id: int, tenant_id: int | None, stage: Stage, ip: str | None, user_agent: str
) -> tuple[str, StaffSession]:
    """A new session; returns the id (for the cookie, shown once) and the session."""
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    s = StaffSession(
        staff_id=staff_id,
        tenant_id=tenant_id,
        stage=stage,
        created=now,
        last_used=now,
        ip=ip,
        user_agent=user_agent[:300],
        csrf=secrets.token_urlsafe(32),
        key=_hash(session_id),
    )
    try:
        await _write(s.key, s)
    except RedisError:
        raise _unavailable() from None
    return session_id, s


def _parse(hashed: str, raw: dict[str, str]) -> StaffSession | None:
    try:
        return StaffSession(
            staff_id=int(raw["staff_id"]),
            tenant_id=int(raw["tenant_id"]) if raw["tenant_id"] else None,
            stage=raw["stage"],  # type: ignore[arg-type]
            created=float(raw["created"]),
            last_used=float(raw["last_used"]),
            ip=raw["ip"] or None,
            user_agent=raw["user_agent"],
            csrf=raw["csrf"],
            key=hashed,
        )
    except (KeyError, ValueError):
        return None  # not ours, or from an older layout: no session


async def load(session_id: str, ip: str | None = None) -> StaffSession | None:
    """The live session the id names, marked used now; None if there is none (never was, ended,
    idle or too old)."""
    hashed = _hash(session_id)
    redis = get_redis()
    try:
        s = _parse(hashed, await redis.hgetall(_key(hashed)))  # type: ignore[misc]
        if s is None:
            return None
        now = time.time()
        if _ttl(s.created, now) <= 0:
            await _forget(hashed, _index_of(s))
            return None
        if now - s.last_used >= TOUCH_EVERY or (ip and ip != s.ip):
            s = replace(s, last_used=now, ip=ip or s.ip)
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(_key(hashed), mapping={"last_used": str(now), "ip": s.ip or ""})
                pipe.pexpire(_key(hashed), max(_ttl(s.created, now), 1))
                await pipe.execute()
        return s
    except RedisError:
        raise _unavailable() from None


async def alive(session_id: str) -> bool:
    """Whether the session still lives (not ended, idle or too old), without marking it used:
    what a long-lived stream asks now and then (the dashboard's live figures), so an open tab
    does not keep checking in as activity between its reconnections."""
    hashed = _hash(session_id)
    try:
        s = _parse(hashed, await get_redis().hgetall(_key(hashed)))  # type: ignore[misc]
    except RedisError:
        raise _unavailable() from None
    return s is not None and _ttl(s.created, time.time()) > 0


async def rotate(session_id: str, stage: Stage | None = None) -> tuple[str, StaffSession] | None:
    """The same login under a new id (and, if given, a new stage); the old id stops working.
    The CSRF token changes with it."""
    old = await load(session_id)
    if old is None:
        return None
    new_id = secrets.token_urlsafe(32)
    s = replace(
        old,
        stage=stage or old.stage,
        csrf=secrets.token_urlsafe(32),
        key=_hash(new_id),
        last_used=time.time(),
    )
    try:
        await _write(s.key, s)
        await _forget(old.key, _index_of(old))
    except RedisError:
        raise _unavailable() from None
    return new_id, s


async def _forget(hashed: str, index: str) -> None:
    async with get_redis().pipeline(transaction=True) as pipe:
        pipe.delete(_key(hashed))
        pipe.srem(index, hashed)
        await pipe.execute()


async def end(session_id: str) -> None:
    """Logs this session out."""
    hashed = _hash(session_id)
    try:
        s = _parse(hashed, await get_redis().hgetall(_key(hashed)))  # type: ignore[misc]
        if s is not None:
            await _forget(hashed, _index_of(s))
    except RedisError:
        raise _unavailable() from None


async def end_by_key(staff_id: int, key: str) -> bool:
    """Ends one of this staff member's sessions by its listed key ("my sessions"); False if it
    is not theirs or already over."""
    try:
        if not await get_redis().sismember(_index(staff_id), key):  # type: ignore[misc]
            return False
        await _forget(key, _index(staff_id))
    except RedisError:
        raise _unavailable() from None
    return True


async def end_all(staff_id: int, keep: str | None = None, *, operator: bool = False) -> int:
    """Ends every session of a person (deactivated, new role, new password), but `keep` (the
    hashed key of the session that made the change, if it should survive). Returns how many.
    `operator`: `staff_id` is a platform operator's id."""
    redis = get_redis()
    index = _index(staff_id, operator)
    try:
        keys = {k for k in await redis.smembers(index) if k != keep}  # type: ignore[misc]
        if keys:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.delete(*(_key(k) for k in keys))
                pipe.srem(index, *keys)
                await pipe.execute()
    except RedisError:
        raise _unavailable() from None
    return len(keys)


async def list_for(staff_id: int) -> list[StaffSession]:
    """This person's live sessions, most recently used first (for "my sessions")."""
    redis = get_redis()
    try:
        out = []
        for hashed in await redis.smembers(_index(staff_id)):  # type: ignore[misc]
            s = _parse(hashed, await redis.hgetall(_key(hashed)))  # type: ignore[misc]
            if s is None or _ttl(s.created, time.time()) <= 0:
                await _forget(hashed, _index(staff_id))  # expired: tidy the index
                continue
            out.append(s)
    except RedisError:
        raise _unavailable() from None
    return sorted(out, key=lambda s: s.last_used, reverse=True)
