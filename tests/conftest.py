"""Shared fixtures: the app, an HTTP client on it, and clean-up of the process-wide engine and
Redis client (created lazily on the session event loop, so they are disposed on it too)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from api.config import get_settings
from api.db import get_engine
from api.main import create_app
from api.security import get_redis


@pytest.fixture(scope="session", autouse=True)
async def _dispose_shared_clients() -> AsyncIterator[None]:
    yield
    await get_engine().dispose()
    await get_redis().aclose()


@pytest.fixture(scope="session")
def app() -> FastAPI:
    return create_app()


@pytest.fixture(autouse=True)
def _streams_end_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx's ASGITransport hands over a response only once its body is complete: in process,
    the dashboard's live stream ends after its first event (the stack's real API keeps the
    shipped lifetime; tests/test_admin_live.py streams from it). Set for every test, on the
    settings of the moment: a test that reloads the settings (get_settings.cache_clear) would
    otherwise give the next ones a five-minute stream, and the permission walk waited on it."""
    monkeypatch.setattr(get_settings(), "dashboard_stream_lifetime", timedelta(0))


class _KeepsNoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An API client: it authenticates with the headers each test gives it and keeps no cookie
    (a login's session cookie would otherwise sign in every later request of the test; the
    cookie's own tests use clients of their own, tests/test_staff_login.py)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        c._cookies = _KeepsNoCookies()
        yield c
