"""Notifications (issue 15) in process: the ISP's rules per event (API, audited, bad input),
what the dispatcher does with each notification (wording in the portal's language, the ISP's
own wording, an event turned off, country prefixes, the daily cap per recipient), the payment
received message decided with the grant, and the expiry warning's sweep."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from api.db import unit_of_work
from api.notifications import service, sweeps
from api.notifications.decisions import decide
from tests.factories import make_plan, make_user_headers, make_voucher, texts_to
from tests.payshop import make_shop, phone
from tests.radius.conftest import sql
from tests.test_payment_c2b import c2b_body, confirm

URL = "/api/v1/notifications"


async def _sold_voucher(tenant, msisdn: str | None = None):
    voucher = await make_voucher(
        plan=await make_plan(tenant=tenant, name="Saa " + secrets.token_hex(2))
    )
    number = msisdn or phone()
    await sql("UPDATE voucher SET phone = :p WHERE id = :v", p=number, v=voucher.id)
    return voucher, number


async def _notify(tenant_id: int, voucher_id: int, event: str = "usage.data", **details) -> dict:
    async with unit_of_work() as session:
        key = f"test:{secrets.token_hex(6)}"
        assert await decide(session, tenant_id, event, key, voucher_id, {"percent": 90} | details)
    for _ in range(100):
        await service.dispatch()
        rows = await sql("SELECT * FROM notification WHERE key = :k", k=key)
        if rows[0]["status"] != "new":
            await service.settle()
            return dict(rows[0])
        await asyncio.sleep(0.05)
    raise AssertionError(rows)


async def _texts(number: str, want: int = 1) -> list[str]:
    for _ in range(100):
        if len(found := await texts_to("+" + number)) >= want:
            return found
        await asyncio.sleep(0.05)
    return await texts_to("+" + number)


async def test_the_rules_list_every_event_and_save_audited(client):
    tenant, headers = await make_user_headers(client)
    listed = await client.get(f"{URL}/rules", headers=headers)
    assert listed.status_code == 200
    events = {r["event"]: r for r in listed.json()}
    assert set(events) == {"usage.data", "usage.time", "expiry", "payment", "outage",
                           "staff.router_silent", "staff.forged_callback", "staff.failed_logins",
                           "staff.failed_payments", "subscriber.due_soon",
                           "subscriber.overdue"}  # fmt: skip
    assert events["usage.data"]["enabled"] and events["usage.data"]["channels"] == ["sms"]
    assert "{percent}" in events["usage.data"]["template_en"]
    body = {"enabled": True, "channels": ["sms"], "template_en": "{isp}: {percent}% used of {code}",
            "template_sw": None}  # fmt: skip
    saved = await client.put(f"{URL}/rules/usage.data", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["template_en"] == body["template_en"] and saved.json()["customised"]
    assert "umetumia" in saved.json()["template_sw"]  # the default Swahili stays
    [entry] = await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND action = "
                        "'notifications.rule'", t=tenant.id)  # fmt: skip
    assert entry["object_id"] == "usage.data"
    assert entry["changes"]["template_en"]["after"] == body["template_en"]


@pytest.mark.parametrize(
    ("event", "body", "status"),
    [("nosuch", {}, 404), ("usage.data", {"channels": ["fax"]}, 422),
     ("usage.data", {"channels": []}, 422), ("usage.data", {"template_en": ""}, 422),
     ("usage.data", {"template_en": "x" * 641}, 422), ("usage.data", {"enabled": "maybe"}, 422),
     ("usage.data", {"extra": 1}, 422), ("BAD EVENT", {}, 422)],
)  # fmt: skip
async def test_bad_rules_are_refused_and_change_nothing(client, event, body, status):
    tenant, headers = await make_user_headers(client)
    answer = await client.put(f"{URL}/rules/{event}", json=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert await sql("SELECT * FROM notification_rule WHERE tenant_id = :t", t=tenant.id) == []


@pytest.mark.parametrize("role", ["support", "tech"])
async def test_only_settings_roles_see_or_change_rules(client, role):
    _, headers = await make_user_headers(client, role=role)
    assert (await client.get(f"{URL}/rules", headers=headers)).status_code == 403
    answer = await client.put(f"{URL}/rules/usage.data", json={}, headers=headers)
    assert answer.status_code == 403


async def test_a_warning_is_worded_in_the_portals_language_or_the_isps_own(client):
    tenant, headers = await make_user_headers(client)
    voucher, number = await _sold_voucher(tenant)
    row = await _notify(tenant.id, voucher.id)
    assert (row["status"], row["outcome"]) == ("done", "sms")
    [text] = await _texts(number)
    assert "90%" in text and voucher.code in text and "used" in text
    await sql("INSERT INTO portal_settings (tenant_id, language) VALUES (:t, 'sw') "
              "ON CONFLICT (tenant_id) DO UPDATE SET language = 'sw'", t=tenant.id)  # fmt: skip
    await _notify(tenant.id, voucher.id)
    assert "umetumia" in (await _texts(number, 2))[-1]
    own = {"template_sw": "Vocha {code}: {percent}% imetumika. {unknown} {isp.__class__}"}
    assert (
        await client.put(f"{URL}/rules/usage.data", json=own, headers=headers)
    ).status_code == 200
    await _notify(tenant.id, voucher.id)
    assert (await _texts(number, 3))[-1].startswith(f"Vocha {voucher.code}: 90% imetumika.")
    assert "{unknown} {isp.__class__}" in (await _texts(number, 3))[-1]  # left as written


async def test_an_event_turned_off_or_out_of_bounds_is_skipped_saying_why(client):
    tenant, headers = await make_user_headers(client)
    voucher, number = await _sold_voucher(tenant)
    off = {"enabled": False}
    assert (
        await client.put(f"{URL}/rules/usage.data", json=off, headers=headers)
    ).status_code == 200
    row = await _notify(tenant.id, voucher.id)
    assert row["status"] == "skipped" and "turned this event off" in row["outcome"]
    # Abroad: outside the ISP's country prefixes (SMS pumping protection).
    abroad, _ = await _sold_voucher(tenant, "447700900123")
    row = await _notify(tenant.id, abroad.id, event="usage.time")
    assert row["status"] == "skipped" and "country prefixes" in row["outcome"]
    # The daily cap per recipient.
    await sql("UPDATE tenant SET message_daily_cap = 1 WHERE id = :t", t=tenant.id)
    assert (await _notify(tenant.id, voucher.id, event="usage.time"))["status"] == "done"
    row = await _notify(tenant.id, voucher.id, event="usage.time")
    assert row["status"] == "skipped" and "daily cap" in row["outcome"]
    assert len(await _texts(number)) == 1
    listed = await client.get(URL, headers=headers)
    assert [n["status"] for n in listed.json()][:2] == ["skipped", "done"]


async def test_a_payment_texts_the_buyer_its_voucher_once(client):
    shop = await make_shop(price=20)
    msisdn = phone()
    body = c2b_body(amount=20, ref="0" + msisdn[3:])
    await confirm(client, shop, body)
    await confirm(client, shop, body)  # Daraja's retry: one payment, one message
    [voucher] = await sql("SELECT * FROM voucher WHERE tenant_id = :t", t=shop.tenant_id)
    rows = await sql("SELECT * FROM notification WHERE tenant_id = :t", t=shop.tenant_id)
    assert [(r["event"], r["voucher_id"]) for r in rows] == [("payment", voucher["id"])]
    for _ in range(100):
        await service.dispatch()
        await service.settle()
        if texts := await texts_to("+" + msisdn):
            break
        await asyncio.sleep(0.05)
    [text] = texts
    assert voucher["code"] in text and "KES 20" in text


async def test_vouchers_ending_soon_are_warned_once_per_end(client):
    tenant, _ = await make_user_headers(client)
    soon, _ = await _sold_voucher(tenant)
    later, _ = await _sold_voucher(tenant)
    printed = await make_voucher(plan=await make_plan(tenant=tenant))
    now = datetime.now(UTC)
    for voucher, ends in ((soon, now + timedelta(minutes=20)), (later, now + timedelta(hours=3)),
                          (printed, now + timedelta(minutes=10))):  # fmt: skip
        await sql("UPDATE voucher SET first_used_at = :f, expires_at = :e WHERE id = :v",
                  f=now - timedelta(hours=1), e=ends, v=voucher.id)  # fmt: skip
    await sweeps.decide_expiry_warnings()
    await sweeps.decide_expiry_warnings()  # the next sweep: nothing new
    rows = await sql("SELECT * FROM notification WHERE tenant_id = :t AND event = 'expiry'",
                     t=tenant.id)  # fmt: skip
    assert [r["voucher_id"] for r in rows] == [soon.id]
    assert 19 <= rows[0]["details"]["minutes"] <= 20
    # Extended: a new end, warned again before it.
    await sql("UPDATE voucher SET expires_at = expires_at + interval '5 minutes' WHERE id = :v",
              v=soon.id)  # fmt: skip
    await sweeps.decide_expiry_warnings()
    rows = await sql("SELECT * FROM notification WHERE tenant_id = :t AND event = 'expiry'",
                     t=tenant.id)  # fmt: skip
    assert len(rows) == 2


async def _dispatched(key_like: str) -> list[dict]:
    for _ in range(100):
        await service.dispatch()
        rows = await sql("SELECT * FROM notification WHERE key LIKE :k", k=key_like)
        if rows and all(r["status"] != "new" for r in rows):
            await service.settle()
            return [dict(r) for r in rows]
        await asyncio.sleep(0.05)
    raise AssertionError(await sql("SELECT * FROM notification WHERE key LIKE :k", k=key_like))


async def test_a_router_gone_silent_is_mailed_to_owners_and_admins_once(client):
    from api.notifications import sweeps as staff_sweeps  # noqa: PLC0415
    from tests.factories import make_router, make_staff, received_mail  # noqa: PLC0415

    tenant, _ = await make_user_headers(client)
    admin = await make_staff(tenant=tenant, role="admin")
    tech = await make_staff(tenant=tenant, role="tech")
    router = await make_router(tenant=tenant, name="soko-" + secrets.token_hex(3))
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    # Its last packet 20 minutes ago: more than 2 x 300 s + 60 s.
    from tests.factories import accounting  # noqa: PLC0415

    await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                     username=voucher.code, unique=secrets.token_hex(5),
                     at=datetime.now(UTC) - timedelta(minutes=20))  # fmt: skip
    await staff_sweeps.decide_silent_routers()
    await staff_sweeps.decide_silent_routers()  # the next sweep: nothing new
    [row] = await _dispatched(f"staff.router_silent:{router.id}:%")
    assert (row["status"], row["outcome"]) == ("done", "email")
    mail = await received_mail(admin.email, router.name)
    assert "has reported nothing since" in mail.get_body(("plain",)).get_content()
    messages = await sql("SELECT recipient FROM message WHERE tenant_id = :t AND purpose = "
                         "'staff-alert'", t=tenant.id)  # fmt: skip
    recipients = {m["recipient"] for m in messages}
    assert admin.email in recipients and tech.email not in recipients and len(recipients) == 2


async def test_a_forged_payment_callback_alerts_staff_at_most_hourly(client):
    shop = await make_shop(price=20)
    body = c2b_body(amount=20, ref="0712345678")
    for _ in range(2):
        answer = await client.post(shop.hook("c2b/confirm", token="not-the-token"), json=body)
        assert answer.status_code in (200, 403), answer.text
    rows = await _dispatched(f"staff.forged_callback:{shop.tenant_id}:%")
    assert len(rows) == 1 and "wrong URL token" in rows[0]["details"]["reason"]
