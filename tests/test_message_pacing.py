"""Each ISP's sending rate (api/messaging/pacing.py): a burst over tenant.message_rate_per_minute
is not refused but held, its attempts untouched, until the next minute, when the outbox sweep
sends it; each message still goes out once. One-time codes never wait; one ISP's burst does not
hold another's messages."""

from __future__ import annotations

import asyncio
import secrets

import httpx

from api.config import get_settings
from api.db import unit_of_work
from api.messaging import outbox
from api.messaging.tasks import sweep_messages
from api.security import get_redis
from tests.factories import make_user_headers
from tests.messaging_world import fake, key, phone
from tests.radius.conftest import sql


async def sms_isp(client, rate: int) -> int:
    """An ISP with its own Africa's Talking account (known to the fake) sending `rate` a minute."""
    tenant, headers = await make_user_headers(client)
    account = {"username": "pace-" + secrets.token_hex(4), "api_key": "k-" + secrets.token_hex(8)}
    saved = await client.put("/api/v1/sms/settings", headers=headers, json=account)
    assert saved.status_code == 200, saved.text
    await fake(get_settings().at_url, "POST", "/__fake__/accounts", json=account)
    paced = await client.patch(
        "/api/v1/settings", headers=headers, json={"message_rate_per_minute": rate}
    )
    assert paced.status_code == 200, paced.text
    assert paced.json()["message_rate_per_minute"] == rate
    return tenant.id


async def decide(tenant_id: int, count: int, purpose: str = "usage-warning") -> list[int]:
    """`count` SMS decided in one transaction (not sent on commit: the test sends them)."""
    ids = []
    async with unit_of_work() as session:
        for _ in range(count):
            message_id, _created = await outbox.decide(
                session, tenant_id, "sms", phone(), "You have used 90% of your data", purpose,
                key(),
            )  # fmt: skip
            ids.append(message_id)
    return ids


async def rows(ids: list[int]) -> list[dict]:
    found = await sql("SELECT * FROM message WHERE id = ANY(:ids) ORDER BY id", ids=ids)
    return [dict(row) for row in found]


async def at_the_gateway(ids: list[int]) -> int:
    """How many requests the fake Africa's Talking took for these messages' recipients."""
    total = 0
    async with httpx.AsyncClient(timeout=10) as http:
        for row in await rows(ids):
            url = get_settings().at_url.rstrip("/") + "/__fake__/messages"
            total += len((await http.get(url, params={"to": row["recipient"]})).json())
    return total


async def next_minute(tenant_id: int, ids: list[int]) -> None:
    """The clock moves on to the next window: the ISP's count starts again, and what was held
    for it is due."""
    async for found in get_redis().scan_iter(f"message-rate:{tenant_id}:*"):
        await get_redis().delete(found)
    await sql("UPDATE message SET next_attempt_at = now() WHERE id = ANY(:ids) "
              "AND status = 'queued'", ids=ids)  # fmt: skip


async def test_a_burst_over_the_rate_waits_for_the_next_minute_and_goes_once(client):
    tenant_id = await sms_isp(client, rate=3)
    ids = await decide(tenant_id, 5)
    await outbox.send_batch(ids)
    first = await rows(ids)
    assert [r["status"] for r in first].count("sent") == 3
    held = [r for r in first if r["status"] == "queued"]
    assert len(held) == 2
    assert all(r["attempts"] == 0 and r["next_attempt_at"] is not None for r in held)
    assert await at_the_gateway(ids) == 3

    # Within the same minute the sweep (or a second sender) sends nothing more.
    await sql("UPDATE message SET next_attempt_at = now() WHERE id = ANY(:ids)",
              ids=[r["id"] for r in held])  # fmt: skip
    await sweep_messages()
    assert await at_the_gateway(ids) == 3

    await next_minute(tenant_id, ids)
    for _ in range(50):
        await sweep_messages()
        if all(r["status"] in ("sent", "delivered") for r in await rows(ids)):
            break
        await asyncio.sleep(0.2)
    assert all(r["status"] in ("sent", "delivered") for r in await rows(ids))
    assert await at_the_gateway(ids) == 5  # each once
    assert {r["attempts"] for r in await rows(ids)} == {1}


async def test_one_time_codes_never_wait(client):
    tenant_id = await sms_isp(client, rate=1)
    ids = await decide(tenant_id, 3, purpose="otp")
    await outbox.send_batch(ids)
    assert [r["status"] for r in await rows(ids)] == ["sent"] * 3


async def test_one_isps_burst_does_not_hold_another_s(client):
    busy, quiet = await sms_isp(client, rate=1), await sms_isp(client, rate=1)
    await outbox.send_batch(await decide(busy, 4))
    mine = await decide(quiet, 1)
    await outbox.send_batch(mine)
    assert [r["status"] for r in await rows(mine)] == ["sent"]


async def test_the_rate_is_checked(client):
    _, headers = await make_user_headers(client)
    for bad in (0, 60001, "fast"):
        answer = await client.patch(
            "/api/v1/settings", headers=headers, json={"message_rate_per_minute": bad}
        )
        assert answer.status_code == 422, answer.text
        assert "message_rate_per_minute" in answer.text
    answer = await client.get("/api/v1/settings", headers=headers)
    assert answer.json()["message_rate_per_minute"] == 600  # the default, unchanged
