"""Live purchase status streams are bounded: per client address and per process, for a limited
time, and everything a stream held is given back when it ends. The caps are checked against
the stack's real uvicorn API (MNETIFI_API_URL), whose streams and disconnects are real; the
in-process app covers what needs a changed setting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from datetime import timedelta

import httpx
import pytest
import redis.asyncio

from api.config import get_settings
from api.errors import TooManyRequests
from api.payments import streams
from api.payments.stk import new_reference
from tests.payshop import Shop, make_shop, phone, stk_body
from tests.radius.conftest import sql

API = os.environ.get("MNETIFI_API_URL", "")


async def pending_purchase(shop: Shop) -> tuple[str, str]:
    """A purchase waiting for its callback, as the STK push leaves it: (public id, checkout id)."""
    checkout = "ws_CO_streams_" + secrets.token_hex(6)
    rows = await sql(
        "INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference, "
        "checkout_request_id, merchant_request_id) VALUES (:t, :p, :phone, :a, 'paybill', :r, "
        ":c, :m) RETURNING public_id",
        t=shop.tenant_id, p=shop.plan_id, phone=phone(), a=shop.price, r=new_reference(),
        c=checkout, m="m-" + checkout,
    )  # fmt: skip
    return str(rows[0]["public_id"]), checkout


async def open_gauge(api: httpx.AsyncClient) -> float:
    text = (await api.get("/metrics")).text
    line = next(x for x in text.splitlines() if x.startswith("mnetifi_portal_streams_open "))
    return float(line.split()[1])


async def gauge_settles(api: httpx.AsyncClient, want: float) -> float:
    """The API notices closed connections on its own schedule: wait (bounded) for the gauge."""
    for _ in range(100):
        if (value := await open_gauge(api)) == want:
            return value
        await asyncio.sleep(0.05)
    return await open_gauge(api)


async def subscribers_settle(want: int) -> int:
    """The pattern subscriptions once they reach `want` (the listener subscribes a moment after
    the stream's first line, and reconnects on its own), or what they are after 10 s."""
    for _ in range(200):
        count = await pattern_subscribers()
        if count == want:
            return count
        await asyncio.sleep(0.05)
    return count


async def pattern_subscribers() -> int:
    """Redis connections subscribed to a pattern: the API's one announcement listener."""
    r = redis.asyncio.Redis.from_url(get_settings().redis_url)
    try:
        return sum(1 for c in await r.client_list() if int(c.get("psub", 0)) > 0)
    finally:
        await r.aclose()


HELD: list = []  # line iterators of open streams: one collected would close its connection


async def open_stream(stack: contextlib.AsyncExitStack, api: httpx.AsyncClient, url: str, host):
    response = await stack.enter_async_context(api.stream("GET", url, headers=host))
    if response.status_code == 200:
        lines = response.aiter_lines()
        HELD.append(lines)
        assert (await anext(lines)).startswith("retry: ")  # started: it holds a slot
    return response


@pytest.fixture
async def api():
    async with httpx.AsyncClient(base_url=API, timeout=10) as client:
        assert await gauge_settles(client, 0) == 0
        yield client


async def test_streams_per_address_are_capped_and_given_back(api):
    shop = await make_shop()
    public_id, _ = await pending_purchase(shop)
    url = f"/api/v1/portal/purchases/{public_id}/events"
    cap = get_settings().portal_streams_per_address
    async with contextlib.AsyncExitStack() as outer:
        inner = contextlib.AsyncExitStack()
        first = await open_stream(inner, api, url, shop.host)
        for _ in range(cap - 1):
            assert (await open_stream(outer, api, url, shop.host)).status_code == 200
        assert await open_gauge(api) == cap
        assert await subscribers_settle(1) == 1  # one Redis connection for all the streams
        refused = await api.get(url, headers=shop.host)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert "close some" in refused.json()["detail"]
        assert first.status_code == 200
        await inner.aclose()  # one page closed: its slot comes back
        assert await gauge_settles(api, cap - 1) == cap - 1
        again = await open_stream(outer, api, url, shop.host)
        assert again.status_code == 200
    HELD.clear()
    assert await gauge_settles(api, 0) == 0
    assert await subscribers_settle(0) == 0  # the last stream gone, so is the subscription


async def test_a_stream_ends_when_the_purchase_is_decided(api):
    shop = await make_shop()
    public_id, checkout = await pending_purchase(shop)
    url = f"/api/v1/portal/purchases/{public_id}/events"
    async with api.stream("GET", url, headers=shop.host) as stream:
        lines = aiter(stream.aiter_lines())
        assert (await anext(lines)).startswith("retry: ")
        assert await open_gauge(api) == 1
        hook = await api.post(shop.hook(), json=stk_body(checkout, code=1032))
        assert hook.status_code == 200
        rest = [line async for line in lines if line.startswith("data: ")]
    assert '"status": "pending"' in rest[0] and '"status": "failed"' in rest[-1]
    assert await gauge_settles(api, 0) == 0


async def test_the_process_wide_cap_refuses_every_address(monkeypatch):
    monkeypatch.setattr(get_settings(), "portal_streams_total", 3)
    held = [streams.acquire(f"10.0.0.{n}") for n in range(3)]
    with pytest.raises(TooManyRequests) as refused:
        streams.acquire("10.0.0.99")
    assert refused.value.retry_after > 0 and "shortly" in refused.value.detail
    held.pop().release()
    held.append(streams.acquire("10.0.0.99"))
    for slot in held:
        slot.release()
        slot.release()  # twice is harmless
    assert streams.open_streams() == 0


async def test_a_stream_ends_at_its_lifetime_while_still_pending(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "portal_stream_lifetime", timedelta(0))
    shop = await make_shop()
    public_id, _ = await pending_purchase(shop)
    url = f"/api/v1/portal/purchases/{public_id}/events"
    async with client.stream("GET", url, headers=shop.host) as stream:
        assert stream.status_code == 200
        data = [line async for line in stream.aiter_lines() if line.startswith("data: ")]
    assert len(data) == 1 and '"status": "pending"' in data[0]
    assert streams.open_streams() == 0


async def test_announcements_come_back_after_redis_drops_the_subscription(api):
    shop = await make_shop()
    public_id, checkout = await pending_purchase(shop)
    url = f"/api/v1/portal/purchases/{public_id}/events"
    async with api.stream("GET", url, headers=shop.host) as stream:
        lines = aiter(stream.aiter_lines())
        assert (await anext(lines)).startswith("retry: ")
        assert await subscribers_settle(1) == 1
        r = redis.asyncio.Redis.from_url(get_settings().redis_url)
        await r.client_kill_filter(_type="pubsub")
        await r.aclose()
        assert await subscribers_settle(1) == 1  # the listener reconnected on its own
        hook = await api.post(shop.hook(), json=stk_body(checkout, code=1032))
        assert hook.status_code == 200
        rest = [line async for line in lines if line.startswith("data: ")]
    assert '"status": "failed"' in rest[-1]
