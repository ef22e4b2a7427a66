"""Usage warnings (issue 15), through the stack's real FreeRADIUS, accounting SQL and worker:
a RouterOS-shaped session whose interims cross 90% of a 1 GiB quota sends exactly one SMS
and one WhatsApp message (Africa's Talking's fakes), even when every interim arrives three times
and workers race; crossing 90% again after a repurchase (a C2B top-up) sends one more. Time
quotas, the ISP's and the plan's thresholds, printed vouchers without a phone, and a worker that
stops between the decision and the send."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from api.messaging.tasks import sweep_messages as sweep_sms
from api.notifications import service as notifications
from tests.factories import make_user_headers, texts_to
from tests.messaging_world import WA, atwa_url, fake
from tests.payshop import add_router, make_shop, phone, shop_tenant
from tests.radius.conftest import make_isp, random_code, sql
from tests.radius.radclient import accounting_request, send, warm_up
from tests.test_payment_c2b import c2b_body, confirm

GIB = 1 << 30


def interim(code: str, session_id: str, octets: int, seconds: int, status: str = "Interim-Update"):
    """What RouterOS reports of a session so far: download in Acct-Output-Octets."""
    return accounting_request(
        code, status, session_id=session_id, **{
            "Acct-Session-Time": seconds, "Acct-Input-Octets": octets // 10,
            "Acct-Output-Octets": octets - octets // 10,
        },
    )  # fmt: skip


async def _shop_with_router(address: str):
    """An ISP selling a 1 GiB package by M-Pesa, with a router at `address` FreeRADIUS knows."""
    shop = await make_shop(price=20, data_quota_bytes=GIB)
    secret = secrets.token_urlsafe(18)
    await add_router(shop, address, secret)
    warm_up(address, secret)
    return shop, {"src": address, "secret": secret}


async def _whatsapp_too(client, shop) -> None:
    """The ISP also has WhatsApp (Africa's Talking's, the stack's fake) and warns on both."""
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
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
    rule = {"channels": ["sms", "whatsapp"]}
    answer = await client.put("/api/v1/notifications/rules/usage.data", headers=headers, json=rule)
    assert answer.status_code == 200, answer.text


async def whatsapp_settle(number: str, want: int) -> list[str]:
    """The usage warnings the fake Africa's Talking WhatsApp delivered to `number`."""

    async def warnings() -> list[str]:
        found = await fake(atwa_url(), "GET", "/__fake__/messages", params={"to": number})
        return [str(m) for m in found if "% of the" in str(m)]

    return await _settle(warnings, want)


def thrice(attrs: dict, router: dict) -> None:
    """A router that never hears our answers sends each packet again, and again."""
    for _ in range(3):
        assert send("acct", attrs, **router).code == "Accounting-Response"


async def notifications_of(voucher_code: str, tenant_id: int) -> list[dict]:
    return [dict(r) for r in await sql(
        "SELECT n.* FROM notification n JOIN voucher v ON v.id = n.voucher_id "
        "WHERE v.code = :c AND n.tenant_id = :t AND n.event LIKE 'usage.%' ORDER BY n.id",
        c=voucher_code, t=tenant_id,
    )]  # fmt: skip


async def settled(voucher_code: str, tenant_id: int, want: int) -> list[dict]:
    """The voucher's notifications once `want` of them are no longer new (the stack's worker
    runs the dispatcher every second; this test runs more dispatchers at the same time)."""
    for _ in range(150):
        await asyncio.gather(notifications.dispatch(), notifications.dispatch())
        rows = await notifications_of(voucher_code, tenant_id)
        if len([r for r in rows if r["status"] != "new"]) >= want:
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(await notifications_of(voucher_code, tenant_id))


async def _settle(read: Callable[[], Awaitable[list[str]]], want: int) -> list[str]:
    """What `read()` returns once it holds `want` items and a moment passed for any extra."""
    for _ in range(100):
        if len(await read()) >= want:
            await asyncio.sleep(1.5)  # and no more come
            return await read()
        await asyncio.sleep(0.1)
    return await read()


async def texts_settle(number: str, want: int) -> list[str]:
    """The usage warnings `number` received by SMS (a bought voucher also brings its "payment
    received" text)."""

    async def warnings() -> list[str]:
        return [t for t in await texts_to(number) if "% of the" in t]

    return await _settle(warnings, want)


async def test_crossing_90_percent_of_a_gigabyte_texts_once_and_again_after_a_repurchase(
    client, new_address
):
    shop, router = await _shop_with_router(new_address())
    await _whatsapp_too(client, shop)
    msisdn = phone()
    await confirm(client, shop, c2b_body(amount=20, ref="0" + msisdn[3:]))  # paid to a phone
    [voucher] = await sql("SELECT * FROM voucher WHERE tenant_id = :t", t=shop.tenant_id)
    code, sid = voucher["code"], secrets.token_hex(4)
    assert voucher["phone"] == msisdn

    thrice(accounting_request(code, "Start", session_id=sid), router)
    for percent, minutes in ((50, 10), (80, 20), (91, 30), (95, 40)):
        thrice(interim(code, sid, GIB * percent // 100, minutes * 60), router)
    [warning] = await settled(code, shop.tenant_id, 1)
    assert (warning["event"], warning["status"]) == ("usage.data", "done")
    assert warning["outcome"] == "sms,whatsapp"
    assert warning["details"]["percent"] == 90
    [text] = await texts_settle("+" + msisdn, 1)
    assert "90%" in text and code in text
    [whatsapp] = await whatsapp_settle("+" + msisdn, 1)
    assert "90%" in whatsapp and code in whatsapp

    # A repurchase: paying to the voucher's code tops it up to 2 GiB, watched afresh.
    await confirm(client, shop, c2b_body(amount=20, ref=code))
    [after] = await sql("SELECT * FROM voucher WHERE id = :v", v=voucher["id"])
    assert after["data_quota_bytes"] == 2 * GIB
    thrice(interim(code, sid, GIB * 150 // 100, 50 * 60), router)  # 75% of 2 GiB: quiet
    thrice(interim(code, sid, GIB * 185 // 100, 60 * 60), router)  # 92.5%: once more
    thrice(interim(code, sid, GIB * 190 // 100, 70 * 60, "Stop"), router)
    rows = await settled(code, shop.tenant_id, 2)
    assert [r["event"] for r in rows] == ["usage.data", "usage.data"]
    assert [r["details"]["quota_bytes"] for r in rows] == [GIB, 2 * GIB]
    assert len(await texts_settle("+" + msisdn, 2)) == 2
    assert len(await whatsapp_settle("+" + msisdn, 2)) == 2


async def test_a_time_quota_warns_once_and_the_thresholds_are_the_isps_or_the_plans(new_address):
    codes = [random_code() for _ in range(3)]
    isp = await make_isp(address=new_address(), codes=codes, time_quota_seconds=3600)
    router = {"src": isp["address"], "secret": isp["secret"]}
    await sql("UPDATE voucher SET phone = NULL WHERE tenant_id = :t", t=isp["tenant_id"])
    first, second, third = codes
    # The ISP's default, 90%: 54 minutes of 60 crosses it, 50 does not.
    thrice(interim(first, "a1", 0, 50 * 60), router)
    assert await notifications_of(first, isp["tenant_id"]) == []
    thrice(interim(first, "a1", 0, 55 * 60), router)
    [row] = await notifications_of(first, isp["tenant_id"])
    assert row["event"] == "usage.time" and row["details"]["quota_seconds"] == 3600
    # The ISP turns warnings off: nothing.
    await sql("UPDATE tenant SET usage_warning_percent = 0 WHERE id = :t", t=isp["tenant_id"])
    thrice(interim(second, "b1", 0, 59 * 60), router)
    assert await notifications_of(second, isp["tenant_id"]) == []
    # A plan of its own, 50%: warned at half.
    await sql("UPDATE plan SET usage_warning_percent = 50 WHERE id = :p", p=isp["plan_id"])
    thrice(interim(third, "c1", 0, 31 * 60), router)
    [row] = await notifications_of(third, isp["tenant_id"])
    assert row["details"]["percent"] == 50
    # A printed voucher has no phone: the notification is skipped, saying why.
    [row] = await settled(third, isp["tenant_id"], 1)
    assert row["status"] == "skipped" and "no phone" in row["outcome"]


async def test_a_worker_stopping_between_the_decision_and_the_send_still_texts_once(
    client, new_address, monkeypatch
):
    shop, router = await _shop_with_router(new_address())
    msisdn = phone()
    await confirm(client, shop, c2b_body(amount=20, ref=msisdn))
    [voucher] = await sql("SELECT * FROM voucher WHERE tenant_id = :t", t=shop.tenant_id)

    # The process dies right after the dispatcher commits: its sends never run.
    async def died(message_id: int) -> None:
        return None

    monkeypatch.setattr("api.messaging.outbox.deliver", died)
    thrice(interim(voucher["code"], "k1", GIB * 95 // 100, 600), router)
    await settled(voucher["code"], shop.tenant_id, 1)
    monkeypatch.undo()
    # (The stack's own worker may have taken the notification first and sent it; either way
    # the customer gets exactly one text.)
    # The SMS sweep sends what was queued and never sent (its 15 s grace shortened here).
    monkeypatch.setattr("api.messaging.tasks.QUEUED_GRACE", timedelta(0))
    for _ in range(50):
        await sweep_sms()
        if await texts_to("+" + msisdn):
            break
        await asyncio.sleep(0.2)
    assert len(await texts_settle("+" + msisdn, 1)) == 1
    messages = await sql("SELECT * FROM message WHERE tenant_id = :t AND purpose = "
                         "'usage-warning'", t=shop.tenant_id)  # fmt: skip
    assert len(messages) == 1 and messages[0]["status"] in ("sent", "delivered")


@pytest.mark.parametrize("threshold", [0, 100, -1])
async def test_the_threshold_is_a_percentage_below_100(threshold, new_address):
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415

    isp = await make_isp(address=new_address())
    if threshold == 0:
        await sql("UPDATE tenant SET usage_warning_percent = 0 WHERE id = :t", t=isp["tenant_id"])
        return
    with pytest.raises(IntegrityError):
        await sql("UPDATE tenant SET usage_warning_percent = :p WHERE id = :t",
                  p=threshold, t=isp["tenant_id"])  # fmt: skip
