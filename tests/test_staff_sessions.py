"""Staff login sessions in Redis (api.staff_sessions) and the CSRF check (api.csrf), on the
test stack's real Redis."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from redis.asyncio import Redis
from starlette.requests import Request

from api import csrf
from api import staff_sessions as sessions
from api.config import get_settings
from api.errors import Forbidden, ServiceUnavailable
from api.security import get_redis


def _staff() -> int:
    """A staff id no other test uses (sessions are keyed by it in the shared Redis)."""
    return 900_000_000 + secrets.randbelow(99_999_999)


async def test_a_session_is_found_by_its_id_which_redis_never_holds() -> None:
    staff = _staff()
    sid, made = await sessions.create(staff, 7, "full", "10.1.2.3", "Firefox")
    found = await sessions.load(sid)
    assert found is not None and found.staff_id == staff and found.tenant_id == 7
    assert found.complete and found.csrf == made.csrf and len(found.csrf) >= 40
    redis = get_redis()
    keys = [k async for k in redis.scan_iter(f"staff-session:{made.key}")]
    assert keys and all(sid not in k for k in keys)
    assert sid not in str(await redis.hgetall(keys[0]))  # type: ignore[misc]
    assert await sessions.load(sid + "x") is None
    assert await sessions.load(secrets.token_urlsafe(32)) is None


async def test_rotation_retires_the_old_id_and_its_csrf_token() -> None:
    sid, first = await sessions.create(_staff(), 7, "second_factor", None, "ua")
    rotated = await sessions.rotate(sid, "full")
    assert rotated is not None
    new_id, s = rotated
    assert new_id != sid and s.stage == "full" and s.csrf != first.csrf
    assert await sessions.load(sid) is None
    assert (await sessions.load(new_id)) is not None
    assert await sessions.rotate(sid) is None  # a retired id cannot be rotated back to life


async def test_an_idle_session_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "session_idle", timedelta(seconds=1))
    sid, _ = await sessions.create(_staff(), 7, "full", None, "ua")
    assert await sessions.load(sid) is not None
    await asyncio.sleep(1.3)
    assert await sessions.load(sid) is None


async def test_a_session_ends_at_its_absolute_age_even_while_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(get_settings(), "session_absolute", timedelta(seconds=2))
    monkeypatch.setattr(sessions, "TOUCH_EVERY", 0)  # every load counts as use
    sid, _ = await sessions.create(_staff(), 7, "full", None, "ua")
    for _ in range(3):
        await asyncio.sleep(0.5)
        assert await sessions.load(sid) is not None
    await asyncio.sleep(0.7)
    assert await sessions.load(sid) is None


async def test_ending_every_session_of_a_person_leaves_others_alone() -> None:
    alice, bob = _staff(), _staff()
    a1, _ = await sessions.create(alice, 7, "full", None, "phone")
    a2, kept = await sessions.create(alice, 7, "full", None, "laptop")
    a3, _ = await sessions.create(alice, 7, "full", None, "tablet")
    b1, _ = await sessions.create(bob, 7, "full", None, "bob")
    assert await sessions.end_all(alice, keep=kept.key) == 2
    assert await sessions.load(a1) is None and await sessions.load(a3) is None
    assert await sessions.load(a2) is not None and await sessions.load(b1) is not None
    assert await sessions.end_all(alice) == 1
    assert await sessions.load(a2) is None


async def test_my_sessions_lists_and_ends_only_ones_own() -> None:
    alice, bob = _staff(), _staff()
    a1, s1 = await sessions.create(alice, 7, "full", "10.0.0.1", "phone")
    a2, s2 = await sessions.create(alice, 7, "full", "10.0.0.2", "laptop")
    _, sb = await sessions.create(bob, 7, "full", None, "bob")
    listed = await sessions.list_for(alice)
    assert {s.key for s in listed} == {s1.key, s2.key}
    assert {s.user_agent for s in listed} == {"phone", "laptop"}
    assert not await sessions.end_by_key(alice, sb.key)  # bob's session is not alice's to end
    assert await sessions.end_by_key(alice, s1.key)
    assert await sessions.load(a1) is None and await sessions.load(a2) is not None
    assert not await sessions.end_by_key(alice, s1.key)  # already over


async def test_logout_ends_the_session() -> None:
    sid, _ = await sessions.create(_staff(), 7, "full", None, "ua")
    await sessions.end(sid)
    assert await sessions.load(sid) is None
    await sessions.end(sid)  # twice is fine


async def test_sessions_fail_closed_when_redis_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    down = Redis.from_url("redis://127.0.0.1:9/0", decode_responses=True, socket_timeout=1)
    monkeypatch.setattr(sessions, "get_redis", lambda: down)
    with pytest.raises(ServiceUnavailable):
        await sessions.create(_staff(), 7, "full", None, "ua")
    with pytest.raises(ServiceUnavailable):
        await sessions.load("anything")
    with pytest.raises(ServiceUnavailable):
        await sessions.end_all(1)
    await down.aclose()


# ---------------------------------------------------------------------------------- CSRF


def _request(method: str, headers: dict[str, str], body: bytes = b"") -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": method,
        "path": "/x",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "query_string": b"",
    }
    return Request(scope, receive)


HOST = {"host": "demo.mnetifi.com"}
TOKEN = "t" * 43


async def test_csrf_token_in_header_or_form_passes() -> None:
    await csrf.check(_request("POST", {**HOST, "x-csrf-token": TOKEN}), TOKEN)
    form = urlencode({"csrf_token": TOKEN, "name": "x"}).encode()
    req = _request("POST", {**HOST, "content-type": "application/x-www-form-urlencoded"}, form)
    await csrf.check(req, TOKEN)
    assert (await req.form())["name"] == "x"  # the route still reads its form
    await csrf.check(_request("GET", HOST), TOKEN)  # reading needs no token


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"x-csrf-token": "forged"},
        {"x-csrf-token": TOKEN[:-1]},
        {"x-csrf-token": TOKEN, "origin": "https://evil.example"},
        {"x-csrf-token": TOKEN, "referer": "https://evil.example/page"},
        {"x-csrf-token": TOKEN, "origin": "null"},
    ],
)
async def test_forged_missing_or_cross_site_requests_are_refused(headers: dict[str, str]) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(Forbidden):
            await csrf.check(_request(method, {**HOST, **headers}), TOKEN)


async def test_a_forged_form_field_is_refused() -> None:
    form = urlencode({"csrf_token": "forged"}).encode()
    req = _request("POST", {**HOST, "content-type": "application/x-www-form-urlencoded"}, form)
    with pytest.raises(Forbidden):
        await csrf.check(req, TOKEN)
