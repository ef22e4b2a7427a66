"""A subscriber's self-care session, in Redis, of its own kind: never a staff session, and never
read by /admin or the API (its cookie is scoped to /account and named apart).

The id is 32 random bytes the browser holds in an HttpOnly cookie; Redis holds the session under
the SHA-256 of it with the session's CSRF token. A login always makes a new id (a fixated cookie
is worth nothing), a password change makes a new one again, and a session lasts IDLE without use
and ABSOLUTE at most."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass

from api.security import get_redis

COOKIE = "mnetifi_account"
IDLE = 15 * 60
ABSOLUTE = 2 * 3600


@dataclass(frozen=True)
class AccountSession:
    tenant_id: int
    subscriber_id: int
    csrf: str
    created: float


def _key(session_id: str) -> str:
    return "account-session:" + hashlib.sha256(session_id.encode()).hexdigest()


async def start(tenant_id: int, subscriber_id: int) -> str:
    session_id = secrets.token_urlsafe(32)
    data = AccountSession(tenant_id, subscriber_id, secrets.token_urlsafe(24), time.time())
    await get_redis().set(_key(session_id), json.dumps(asdict(data)), ex=IDLE)
    return session_id


async def load(session_id: str | None, tenant_id: int) -> AccountSession | None:
    """The session if it is this ISP's and alive (its idle time starts again)."""
    if not session_id or len(session_id) > 100:
        return None
    raw = await get_redis().get(_key(session_id))
    if raw is None:
        return None
    found = AccountSession(**json.loads(raw))
    if found.tenant_id != tenant_id or time.time() - found.created > ABSOLUTE:
        return None
    await get_redis().expire(_key(session_id), IDLE)
    return found


async def end(session_id: str | None) -> None:
    if session_id:
        await get_redis().delete(_key(session_id))
