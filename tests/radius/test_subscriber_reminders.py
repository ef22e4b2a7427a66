"""Subscribers' reminders and dunning (issue 16, part 2c), against the stack: the sweep decides a
reminder N days before the due date and a dunning notice on the ISP's chosen days after it, once
per subscriber, due date and day however often (or concurrently) it runs; the dispatcher texts
it through the fake Africa's Talking; with STK dunning on, each dunning day sends one M-Pesa
prompt through the fake Daraja; nothing for a suspended subscriber or one paid up."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace

import pytest

from api.bills import tasks as bill_tasks
from api.notifications import service
from tests.factories import make_user_headers, texts_to
from tests.payshop import fake, make_shop, phone
from tests.radius.conftest import sql
from tests.radius.test_subscribers import make_subscriber

PRICE = 1500  # make_subscriber's plan


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def _isp(**tenant: object) -> tuple[int, str]:
    shop = await make_shop()
    if tenant:
        sets = ", ".join(f"{k} = :{k}" for k in tenant)
        await sql(f"UPDATE tenant SET {sets} WHERE id = :t", t=shop.tenant_id, **tenant)
    [row] = await sql("SELECT shortcode FROM payment_settings WHERE tenant_id = :t",
                      t=shop.tenant_id)  # fmt: skip
    return shop.tenant_id, row["shortcode"]


async def _subscriber(tenant_id: int, due_in: timedelta, **extra: object) -> dict:
    sub = await make_subscriber({"tenant_id": tenant_id}, due_in=due_in,
                                status=str(extra.pop("status", "active")))  # fmt: skip
    number = phone()
    await sql("UPDATE subscriber SET phone = :p, name = 'Achieng Otieno', balance = :b "
              "WHERE id = :s", p=number, b=extra.get("balance", 0), s=sub["id"])  # fmt: skip
    return sub | {"phone": number}


async def _notifications(subscriber_id: int) -> list[dict]:
    rows = await sql("SELECT * FROM notification WHERE subscriber_id = :s ORDER BY id",
                     s=subscriber_id)  # fmt: skip
    return [dict(r) for r in rows]


async def _pushes(subscriber_id: int) -> list[dict]:
    rows = await sql("SELECT * FROM stk_request WHERE subscriber_id = :s", s=subscriber_id)
    return [dict(r) for r in rows]


async def _dispatched(subscriber_id: int) -> dict:
    for _ in range(100):
        await service.dispatch()
        [row] = await _notifications(subscriber_id)
        if row["status"] != "new":
            await service.settle()
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(row)


async def _texts(number: str) -> list[str]:
    for _ in range(100):
        if found := await texts_to("+" + number):
            return found
        await asyncio.sleep(0.05)
    return []


async def test_a_reminder_is_decided_once_however_often_the_sweep_runs():
    tenant_id, _ = await _isp()
    sub = await _subscriber(tenant_id, timedelta(days=3, minutes=5))
    await asyncio.gather(bill_tasks.remind_and_dun(), bill_tasks.remind_and_dun())
    await bill_tasks.remind_and_dun()
    [row] = await _notifications(sub["id"])
    assert row["event"] == "subscriber.due_soon" and row["details"]["days"] == 3
    assert row["key"].startswith(f"subscriber:{sub['id']}:")
    # Not a reminder day for someone due in 4 days (the ISP's default is 3).
    later = await _subscriber(tenant_id, timedelta(days=4, minutes=5))
    await bill_tasks.remind_and_dun()
    assert await _notifications(later["id"]) == []


async def test_overdue_on_the_chosen_days_only_and_never_when_suspended():
    tenant_id, _ = await _isp(subscriber_dunning_days="1,3")
    day = {n: await _subscriber(tenant_id, -timedelta(days=n, minutes=5)) for n in (1, 2, 3, 4)}
    suspended = await _subscriber(tenant_id, -timedelta(days=1, minutes=5), status="suspended")
    paid_up = await _subscriber(tenant_id, timedelta(days=20))
    await bill_tasks.remind_and_dun()
    decided = {n: [r["event"] for r in await _notifications(s["id"])] for n, s in day.items()}
    assert decided == {1: ["subscriber.overdue"], 2: [], 3: ["subscriber.overdue"], 4: []}
    assert await _notifications(suspended["id"]) == []
    assert await _notifications(paid_up["id"]) == []


async def test_a_reminder_is_texted_with_the_paybill_and_the_username_as_account():
    tenant_id, paybill = await _isp()
    sub = await _subscriber(tenant_id, timedelta(days=3, minutes=5), balance=400)
    await bill_tasks.remind_and_dun()
    row = await _dispatched(sub["id"])
    assert (row["status"], row["outcome"]) == ("done", "sms")
    [text] = await _texts(sub["phone"])
    assert "Achieng Otieno" in text and f"KES {PRICE - 400}" in text
    assert f"Paybill {paybill}" in text and f"account {sub['username']}" in text
    [message] = await sql("SELECT purpose FROM message WHERE recipient = :r",
                          r="+" + sub["phone"])  # fmt: skip
    assert message["purpose"] == "subscriber-reminder"


async def test_the_isps_own_wording_in_swahili_is_used(client):
    tenant_id, _ = await _isp()
    await sql("INSERT INTO portal_settings (tenant_id, language) VALUES (:t, 'sw')", t=tenant_id)
    [tenant] = await sql("SELECT * FROM tenant WHERE id = :t", t=tenant_id)
    _, headers = await make_user_headers(client, tenant=SimpleNamespace(**tenant))
    own = {"template_sw": "{name}: deni KES {amount}, siku {days}, akaunti {account}"}
    saved = await client.put("/api/v1/notifications/rules/subscriber.overdue", json=own,
                             headers=headers)  # fmt: skip
    assert saved.status_code == 200, saved.text
    sub = await _subscriber(tenant_id, -timedelta(days=1, minutes=5))
    await bill_tasks.remind_and_dun()
    await _dispatched(sub["id"])
    assert await _texts(sub["phone"]) == [
        f"Achieng Otieno: deni KES {PRICE}, siku 1, akaunti {sub['username']}"
    ]


async def test_paid_or_suspended_since_the_decision_is_not_texted():
    tenant_id, _ = await _isp()
    paid = await _subscriber(tenant_id, -timedelta(days=1, minutes=5))
    suspended = await _subscriber(tenant_id, -timedelta(days=1, minutes=5))
    await bill_tasks.remind_and_dun()
    await sql("UPDATE subscriber SET due_at = due_at + interval '1 month' WHERE id = :s",
              s=paid["id"])  # fmt: skip
    await sql("UPDATE subscriber SET status = 'suspended' WHERE id = :s", s=suspended["id"])
    assert (await _dispatched(paid["id"]))["outcome"] == "paid since: the due date moved"
    assert (await _dispatched(suspended["id"]))["outcome"] == "the subscriber is suspended"
    await asyncio.sleep(0.3)  # nothing may arrive: give a wrong send the time to show
    assert await texts_to("+" + paid["phone"]) == []
    assert await texts_to("+" + suspended["phone"]) == []


async def test_stk_dunning_prompts_once_per_dunning_day_when_on():
    tenant_id, _ = await _isp(subscriber_dunning_stk=True)
    sub = await _subscriber(tenant_id, -timedelta(days=3, minutes=5), balance=500)
    reminded = await _subscriber(tenant_id, timedelta(days=3, minutes=5))
    runs = await asyncio.gather(*(bill_tasks.remind_and_dun() for _ in range(3)))
    await bill_tasks.remind_and_dun()
    assert sum(r["prompted"] for r in runs) >= 1
    [push] = await _pushes(sub["id"])
    assert (push["amount"], push["phone"], push["plan_id"]) == (PRICE - 500, sub["phone"], None)
    assert await _pushes(reminded["id"]) == []  # a reminder before the due date asks no money
    sent = [t for t in await fake("GET", "transactions") if str(t.get("phone")) == sub["phone"]]
    assert len(sent) == 1, sent  # the fake Daraja was asked once


async def test_no_stk_dunning_when_off():
    tenant_id, _ = await _isp()
    sub = await _subscriber(tenant_id, -timedelta(days=1, minutes=5))
    await bill_tasks.remind_and_dun()
    assert [r["event"] for r in await _notifications(sub["id"])] == ["subscriber.overdue"]
    assert await _pushes(sub["id"]) == []
