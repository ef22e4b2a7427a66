"""PostgreSQL or Redis unreachable: the API answers 503 with a sentence and Retry-After (the
portal a page), never a 500. PostgreSQL is really stopped (the test stack's, as in
tests/radius/test_outage.py) and started again whatever happens; Redis "down" is a client
pointed at a port where nothing listens (stopping the stack's Redis would stop its worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.config import get_settings
from api.security import get_redis
from tests.payshop import make_shop
from tests.radius.test_outage import database_outage

LOGIN = "/api/v1/auth/login"


async def test_database_down_is_503_with_a_sentence(client):
    shop = await make_shop()
    body = {"email": "a@example.com", "password": "whatever", "tenant": shop.slug}
    before = int(await get_redis().get("login:address:127.0.0.1") or 0)
    async with database_outage():
        login = await client.post(LOGIN, json=body)
        plans = await client.get("/api/v1/portal/plans", headers=shop.host)
        page = await client.get("/hotspotportal", headers=shop.host)
    for response in (login, plans):
        assert response.status_code == 503, response.text
        assert "try again" in response.json()["detail"]
        assert int(response.headers["retry-after"]) > 0
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "try again" in page.text and "retry-after" in page.headers
    back = await client.get("/api/v1/portal/plans", headers=shop.host)
    assert back.status_code == 200  # and the pool recovers by itself
    # A login the outage kept from being judged took nothing from the address's budget.
    assert int(await get_redis().get("login:address:127.0.0.1") or 0) == before


@pytest.fixture
def redis_down(monkeypatch) -> Iterator[None]:
    """This process's Redis client on a port nothing listens on (a real refused connection)."""
    monkeypatch.setenv("MNETIFI_REDIS_URL", "redis://127.0.0.1:9/0")
    get_settings.cache_clear()
    get_redis.cache_clear()
    try:
        yield
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        get_redis.cache_clear()


async def test_redis_down_is_503(client, redis_down):
    response = await client.post(
        LOGIN, json={"email": "a@example.com", "password": "whatever", "tenant": "x"}
    )
    assert response.status_code == 503, response.text
    assert "try again" in response.json()["detail"] and "retry-after" in response.headers
