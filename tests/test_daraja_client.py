"""The Daraja client against the fake Daraja server: one token per consumer key shared through
Redis and fetched single-flight, a refused token refreshed once, paybill and till pushes."""

from __future__ import annotations

import asyncio
import os
import secrets

import httpx
import pytest
from redis.asyncio import Redis

from api.payments.daraja import Account, Client, DarajaError, TokenCache

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


@pytest.fixture
async def daraja():
    base = os.environ["MNETIFI_DARAJA_URL"]
    redis = Redis.from_url(os.environ["MNETIFI_REDIS_URL"])
    async with httpx.AsyncClient(timeout=10) as http:
        yield TokenCache(redis, http, base), http, base
    await redis.aclose()


async def new_app(http: httpx.AsyncClient, base: str) -> Account:
    """A Daraja app of its own, so counts and tokens are this test's alone."""
    key, secret = "k-" + secrets.token_hex(8), "s-" + secrets.token_hex(8)
    shortcode = str(secrets.randbelow(900_000) + 100_000)
    response = await http.post(
        f"{base}/__fake__/apps",
        json={
            "consumer_key": key,
            "consumer_secret": secret,
            "shortcodes": [{"shortcode": shortcode, "type": "paybill", "passkey": "pk"}],
        },
    )
    assert response.status_code == 200, response.text
    return Account("sandbox", "paybill", shortcode, None, key, secret, "pk")


async def oauth_requests(http: httpx.AsyncClient, base: str, account: Account) -> int:
    seen = (await http.get(f"{base}/__fake__/requests")).json()
    return sum(1 for r in seen if "/oauth/" in r["path"] and account.consumer_key in str(r))


def push_args(phone: str = "0712345678") -> dict:
    return dict(
        phone=phone, amount=10, callback_url="http://127.0.0.1:9/cb", reference="r", description="d"
    )


async def test_concurrent_callers_share_one_token_fetch(daraja):
    tokens, http, base = daraja
    account = await new_app(http, base)
    got = await asyncio.gather(*(tokens.get(account) for _ in range(10)))
    assert len(set(got)) == 1
    assert await oauth_requests(http, base, account) == 1
    assert await tokens.get(account) == got[0]  # cached: no new request
    assert await oauth_requests(http, base, account) == 1


async def test_a_refused_token_is_refreshed_once_and_the_call_retried(daraja):
    tokens, http, base = daraja
    account = await new_app(http, base)
    await tokens.get(account)
    # Someone else fetches a token for the same key: Daraja invalidates ours.
    await http.post(f"{base}/__fake__/config", json={"invalidate_previous_token": True})
    try:
        stolen = await http.get(
            f"{base}/oauth/v1/generate",
            params={"grant_type": "client_credentials"},
            auth=(account.consumer_key, account.consumer_secret),
        )
        assert stolen.status_code == 200
        reply = await Client(tokens, account).stk_push(**push_args())
    finally:
        await http.post(f"{base}/__fake__/config", json={"invalidate_previous_token": False})
    assert reply["ResponseCode"] == "0" and reply["CheckoutRequestID"]
    assert await oauth_requests(http, base, account) == 3  # ours, the other, our refresh


async def test_wrong_credentials_raise_darajas_error(daraja):
    tokens, http, base = daraja
    account = await new_app(http, base)
    wrong = Account("sandbox", "paybill", account.shortcode, None, account.consumer_key, "x", "pk")
    with pytest.raises(DarajaError) as error:
        await tokens.get(wrong)
    assert error.value.status in (400, 401)


async def test_till_push_is_accepted_with_store_number_and_till(daraja):
    tokens, _, _ = daraja
    account = Account(
        "sandbox", "till", "5000001", "6000001",
        "demo-consumer-key", "demo-consumer-secret", "demo-store-passkey",
    )  # fmt: skip
    reply = await Client(tokens, account).stk_push(**push_args())
    assert reply["ResponseCode"] == "0"


async def test_wrong_passkey_is_refused_synchronously(daraja):
    tokens, _, _ = daraja
    account = Account(
        "sandbox", "paybill", "174379", None, "demo-consumer-key", "demo-consumer-secret", "nope"
    )
    with pytest.raises(DarajaError) as error:
        await Client(tokens, account).stk_push(**push_args())
    assert error.value.code == "500.001.1001"
