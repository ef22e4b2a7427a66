"""Shared by the offers tests: an ISP with its own Africa's Talking account and shortcode on the
fake (the shortcode's incoming messages posted to the ISP's inbound URL on the stack's API, as
its owner would set on AT's dashboard), phones that opted in, and waiting for an offer's
messages to settle."""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Any

import httpx

from api.config import get_settings
from api.db import unit_of_work
from api.messaging import consent
from tests.factories import make_user_headers
from tests.radius.conftest import sql

BROADCASTS = "/api/v1/broadcasts"


def phone() -> str:
    return "+2547" + str(random.randint(10_000_000, 99_999_999))


async def at_fake(method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.request(method, get_settings().at_url.rstrip("/") + path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


async def offer_isp(client, *, shortcode: bool = True) -> tuple[Any, dict[str, str], dict]:
    """An ISP on an Africa's Talking account of its own (on the fake), with a shortcode whose
    incoming messages reach its inbound URL."""
    tenant, headers = await make_user_headers(client)
    account = {"username": "isp-" + secrets.token_hex(4), "api_key": "k-" + secrets.token_hex(8)}
    await at_fake("POST", "/__fake__/accounts", json=account)
    body = account | ({"shortcode": str(random.randint(20000, 99999))} if shortcode else {})
    saved = await client.put("/api/v1/sms/settings", headers=headers, json=body)
    assert saved.status_code == 200, saved.text
    sms = saved.json()
    if shortcode:
        route = {"shortcode": sms["shortcode"], "inbound_url": sms["inbound_url"]}
        await at_fake("POST", "/__fake__/shortcodes", json=route)
    return tenant, headers, sms


async def opted_in(tenant_id: int, *phones: str, language: str | None = None) -> None:
    async with unit_of_work() as session:
        for number in phones:
            await consent.opt_in(session, tenant_id, number, "purchase", "test", language)


async def texts(number: str) -> list[str]:
    return [m["message"] for m in await at_fake("GET", "/__fake__/messages", params={"to": number})]


async def texted(sms: dict, number: str, text: str, **extra: Any) -> dict[str, Any]:
    """The subscriber `number` texts the ISP's shortcode, through the fake."""
    body = {"from": number, "to": sms["shortcode"], "text": text} | extra
    return await at_fake("POST", "/__fake__/inbound", json=body)


async def offer_messages(broadcast_id: int) -> list[dict[str, Any]]:
    rows = await sql(
        "SELECT * FROM message WHERE broadcast_id = :b ORDER BY recipient, channel", b=broadcast_id
    )
    return [dict(r) for r in rows]


async def settled(broadcast_id: int, want: set[str], wait: float = 30) -> list[dict[str, Any]]:
    """The offer's messages once it is expanded and each is in one of the `want` states."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        [row] = await sql("SELECT status FROM broadcast WHERE id = :b", b=broadcast_id)
        rows = await offer_messages(broadcast_id)
        if row["status"] == "done" and all(r["status"] in want for r in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, (row, [r["status"] for r in rows])
        await asyncio.sleep(0.1)
