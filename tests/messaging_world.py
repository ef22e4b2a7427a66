"""Shared by the messaging tests: an ISP with a WhatsApp account on one of the stack's fakes
(registered there with the ISP's callback URL, as its owner would on the provider's dashboard),
and reading what the fakes and the outbox hold."""

from __future__ import annotations

import asyncio
import random
import secrets
from typing import Any

import httpx

from api import messaging
from api.config import get_settings
from api.db import unit_of_work
from tests.factories import make_user_headers
from tests.radius.conftest import sql

WA = "/api/v1/whatsapp/settings"


def phone() -> str:
    return "+2547" + str(random.randint(10_000_000, 99_999_999))


def key() -> str:
    return "test-" + secrets.token_hex(8)


async def fake(base: str, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, base.rstrip("/") + path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def meta_url() -> str:
    return get_settings().meta_graph_url


def atwa_url() -> str:
    return get_settings().at_whatsapp_url


async def meta_isp(client, **extra: str) -> tuple[Any, dict[str, str], dict[str, str]]:
    """An ISP on Meta's Cloud API with a business number of its own in the fake Meta, whose
    webhook is the ISP's URL (the fake verifies it with the GET handshake, as Meta does)."""
    tenant, headers = await make_user_headers(client)
    account = {
        "provider": "meta",
        "meta_phone_number_id": str(random.randint(10**14, 10**15 - 1)),
        "meta_access_token": "tok-" + secrets.token_hex(8),
        "meta_app_secret": "sec-" + secrets.token_hex(8),
        "meta_verify_token": "ver-" + secrets.token_hex(8),
        "meta_template": "mnetifi_notice",
    } | extra
    saved = await client.put(WA, headers=headers, json=account)
    assert saved.status_code == 200, saved.text
    await fake(meta_url(), "POST", "/__fake__/numbers", json={
        "phone_number_id": account["meta_phone_number_id"],
        "access_token": account["meta_access_token"], "app_secret": account["meta_app_secret"],
        "webhook_url": saved.json()["meta_webhook_url"],
        "verify_token": account["meta_verify_token"],
    })  # fmt: skip
    return tenant, headers, account | saved.json()


async def at_isp(client) -> tuple[Any, dict[str, str], dict[str, str]]:
    """An ISP on Africa's Talking WhatsApp with an account of its own in the fake."""
    tenant, headers = await make_user_headers(client)
    account = {
        "provider": "at_whatsapp",
        "at_username": "isp-" + secrets.token_hex(4),
        "at_api_key": "key-" + secrets.token_hex(8),
        "at_wa_number": "+254709000000",
    }
    saved = await client.put(WA, headers=headers, json=account)
    assert saved.status_code == 200, saved.text
    await fake(atwa_url(), "POST", "/__fake__/accounts", json={
        "username": account["at_username"], "api_key": account["at_api_key"],
        "callback_url": saved.json()["at_callback_url"],
    })  # fmt: skip
    return tenant, headers, account | saved.json()


async def enqueue(
    tenant_id: int | None,
    channel: str,
    to: str,
    k: str | None = None,
    body: str = "Your voucher AB12CD expires in 1 hour",
    **extra: Any,
) -> int | None:
    async with unit_of_work() as session:
        return await messaging.enqueue(session, tenant_id, channel, to, body, "notice",
                                       k or key(), **extra)  # fmt: skip


async def row(message_id: int) -> dict[str, Any]:
    [found] = await sql("SELECT * FROM message WHERE id = :id", id=message_id)
    return dict(found)


async def settled(message_id: int, *statuses: str, seconds: float = 6) -> dict[str, Any]:
    """The message once it reached one of `statuses` (status callbacks come ~300 ms apart)."""
    for _ in range(int(seconds * 10)):
        found = await row(message_id)
        if found["status"] in statuses:
            return found
        await asyncio.sleep(0.1)
    return found
