"""Staff alerts decided beside their cause (issue 15): a burst of failed staff sign-ins at one ISP
(api/auth/alerts.py) and repeated failed M-Pesa payments from one phone (api/payments/alerts.py).
Once per burst and per phone and day, each ISP's own, a replayed callback not counted, the alert
mailed to owners and admins through the stack's SMTP server and texted through the fake Africa's
Talking when the ISP chose SMS, and a failure in deciding never breaking the login or the
payment it is about."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime

import httpx
import pytest

from api.auth import alerts as login_alerts
from api.config import get_settings
from api.payments import alerts as payment_alerts
from tests.factories import (
    login,
    make_staff,
    make_tenant,
    make_user_headers,
    received_mail,
    texts_to,
)
from tests.payshop import make_shop, phone, shop_tenant, stk_body
from tests.radius.conftest import sql
from tests.test_admin_settings_pages import signed_in
from tests.test_notifications import _dispatched
from tests.test_payment_hooks import pending
from tests.test_staff_login import PROVE, _enrol_totp

LOGIN = "/api/v1/auth/login"
N = login_alerts.FAILED_LOGINS


def _addresses(count: int) -> list[str]:
    """Client addresses of this test alone (the login budgets are per address, in Redis)."""
    prefix = f"10.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    return [f"{prefix}.{i + 1}" for i in range(count)]


def _from(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _fail(app, slug: str, email: str, address: str) -> None:
    """A wrong password at the ISP's own address (its subdomain, no tenant field)."""
    host = {"host": f"{slug}.{get_settings().base_domain}"}
    async with _from(app, address) as client:
        body = {"email": email, "password": "not the password at all"}
        answer = await client.post(LOGIN, json=body, headers=host)
    assert answer.status_code == 401, answer.text


async def _alerts(tenant_id: int, event: str) -> list[dict]:
    rows = await sql("SELECT * FROM notification WHERE tenant_id = :t AND event = :e ORDER BY id",
                     t=tenant_id, e=event)  # fmt: skip
    return [dict(r) for r in rows]


def _text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


async def test_a_burst_of_failed_sign_ins_alerts_once_and_only_its_own_isp(app):
    isp, other = await make_tenant(), await make_tenant()
    owner = await make_staff(tenant=isp, role="owner")
    admin = await make_staff(tenant=isp, role="admin")
    tech = await make_staff(tenant=isp, role="tech")
    stranger = await make_staff(tenant=other)
    here, there = _addresses(3), _addresses(1)
    # The other ISP's failures first: counted with ours, they would complete our burst early.
    for _ in range(N - 1):
        await _fail(app, other.slug, stranger.email, there[0])
    # Wrong passwords of two people and an e-mail nobody has here, from three addresses.
    emails = [owner.email, admin.email, f"nobody-{secrets.token_hex(3)}@example.com"]
    for i in range(N - 1):
        await _fail(app, isp.slug, emails[i % 3], here[i % 3])
    assert await _alerts(isp.id, "staff.failed_logins") == []
    await _fail(app, isp.slug, emails[0], here[0])  # the N-th: the burst
    for i in range(5):
        await _fail(app, isp.slug, emails[i % 3], here[i % 3])
    [alert] = await _alerts(isp.id, "staff.failed_logins")
    assert await _alerts(other.id, "staff.failed_logins") == []
    sources = f"{here[0]} (4), {here[1]} (3), {here[2]} (3)"  # the most first
    assert alert["details"] == {"failures": N, "accounts": 3, "minutes": 10, "sources": sources}

    [row] = await _dispatched(alert["key"])
    assert (row["status"], row["outcome"]) == ("done", "email")
    for person in (owner, admin):
        mail = await received_mail(person.email, "a burst of failed staff sign-ins")
        assert f"{N} failed staff sign-ins in 10 min, for 3 e-mail addresses" in _text(mail)
        assert f"from {here[0]} (4)" in _text(mail)
    recipients = {m["recipient"] for m in await sql(
        "SELECT recipient FROM message WHERE tenant_id = :t AND purpose = 'staff-alert'",
        t=isp.id)}  # fmt: skip
    assert recipients == {owner.email, admin.email} and tech.email not in recipients

    # A burst across the turn of the hour: its alert, keyed by the hour before, holds this one.
    last_hour = f"staff.failed_logins:{isp.id}:{int(time.time()) // 3600 - 1}"
    await sql("UPDATE notification SET key = :k WHERE id = :i", k=last_hour, i=alert["id"])
    await _fail(app, isp.slug, emails[1], here[1])
    assert len(await _alerts(isp.id, "staff.failed_logins")) == 1
    # An hour after its alert, a burst still going on is told again.
    await sql("UPDATE notification SET created_at = now() - interval '61 minutes' WHERE id = :i",
              i=alert["id"])  # fmt: skip
    await _fail(app, isp.slug, emails[1], here[1])
    assert len(await _alerts(isp.id, "staff.failed_logins")) == 2


async def test_wrong_second_factor_codes_are_failed_sign_ins_too(app):
    isp = await make_tenant()
    owner = await make_staff(tenant=isp)
    await _enrol_totp(isp.id, owner.id)
    [address] = _addresses(1)
    for _ in range(N - 1):
        await _fail(app, isp.slug, f"nobody-{secrets.token_hex(3)}@example.com", address)
    async with _from(app, _addresses(1)[0]) as client:
        body = {"email": owner.email, "password": "correct horse battery staple",
                "tenant": isp.slug}  # fmt: skip
        first = await client.post(LOGIN, json=body)
        assert first.json()["stage"] == "second_factor", first.text
        assert await _alerts(isp.id, "staff.failed_logins") == []
        bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
        wrong = await client.post(PROVE, json={"code": "WRONG-CODE"}, headers=bearer)
        assert wrong.status_code == 401, wrong.text
    [alert] = await _alerts(isp.id, "staff.failed_logins")
    assert alert["details"]["failures"] == N and alert["details"]["accounts"] == N


async def test_a_failure_deciding_the_alert_still_answers_401_and_audits(app, monkeypatch):
    isp = await make_tenant()
    owner = await make_staff(tenant=isp)
    # A statement the database refuses, inside the login's transaction.
    monkeypatch.setattr(login_alerts, "_FAILURES", "SELECT count(*) FROM no_such_table {tenant}")
    [address] = _addresses(1)
    for _ in range(N):
        await _fail(app, isp.slug, owner.email, address)
    failed = await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND "
                       "action = 'auth.login_failed'", t=isp.id)  # fmt: skip
    assert len(failed) == N  # each failure recorded all the same
    assert await _alerts(isp.id, "staff.failed_logins") == []


async def _fail_payment(client, shop, msisdn: str, code: int = 1032, desc: str = "") -> dict:
    """A push to `msisdn` and Daraja's callback saying it failed; returns the callback."""
    req = await pending(shop, msisdn)
    body = stk_body(req["checkout_request_id"], code=code)
    if desc:
        body["Body"]["stkCallback"]["ResultDesc"] = desc
    answer = await client.post(shop.hook(), json=body)
    assert answer.status_code == 200 and answer.json()["ResultCode"] == 0, answer.text
    return body


async def test_failed_payments_from_one_phone_alert_once_a_day_mailed_and_texted(client):
    shop, other = await make_shop(), await make_shop()
    tenant = await shop_tenant(shop)
    owner = await make_staff(tenant=tenant, role="owner")
    headers = await login(client, tenant=tenant, staff=owner)
    rule = {"enabled": True, "channels": ["email", "sms"]}
    saved = await client.put("/api/v1/notifications/rules/staff.failed_payments", json=rule,
                             headers=headers)  # fmt: skip
    assert saved.status_code == 200, saved.text
    owner_phone = "+2547" + str(secrets.randbelow(90_000_000) + 10_000_000)
    await sql("INSERT INTO second_factor (staff_id, tenant_id, method, phone, enabled_at) "
              "VALUES (:s, :t, 'sms', :p, now())",
              s=owner.id, t=tenant.id, p=owner_phone)  # fmt: skip
    msisdn, neighbour = phone(), phone()

    for _ in range(2):  # the same phone at another ISP
        await _fail_payment(client, other, msisdn)
    await _fail_payment(client, shop, msisdn)
    second = await _fail_payment(client, shop, msisdn, code=2001)
    for _ in range(2):  # Daraja's retry, a replay: the same push, counted once
        assert (await client.post(shop.hook(), json=second)).status_code == 200
    for _ in range(2):
        await _fail_payment(client, shop, neighbour)
    await _fail_payment(client, shop, msisdn, code=2028)  # the ISP's account, not the phone
    assert await _alerts(shop.tenant_id, "staff.failed_payments") == []
    await _fail_payment(client, shop, msisdn, code=1, desc="The balance is insufficient.")
    await _fail_payment(client, shop, msisdn)  # a fourth the same day: no second alert
    [alert] = await _alerts(shop.tenant_id, "staff.failed_payments")
    assert await _alerts(other.tenant_id, "staff.failed_payments") == []
    shown = f"+{msisdn[:4]}******{msisdn[-2:]}"
    assert alert["details"] == {"phone": shown, "failures": 3, "minutes": 60,
                                "result": "The balance is insufficient."}  # fmt: skip

    [row] = await _dispatched(alert["key"])
    assert (row["status"], row["outcome"]) == ("done", "email,sms")
    mail = await received_mail(owner.email, "failed again and again")
    assert f"3 M-Pesa payments from {shown} failed or were cancelled" in _text(mail)
    assert msisdn[3:] not in _text(mail)  # the number masked
    [text] = await _texts(owner_phone)
    assert shown in text and "The balance is insufficient." in text

    # The next day (the day's alert moved to yesterday), the phone's next failure alerts again.
    assert alert["key"].endswith(":" + datetime.now(payment_alerts.DAY_ZONE).date().isoformat())
    await sql("UPDATE notification SET key = :k WHERE id = :i",
              k=alert["key"].rsplit(":", 1)[0] + ":yesterday", i=alert["id"])  # fmt: skip
    await _fail_payment(client, shop, msisdn)
    assert len(await _alerts(shop.tenant_id, "staff.failed_payments")) == 2


async def _texts(number: str) -> list[str]:
    for _ in range(100):
        if found := await texts_to(number):
            return found
        await asyncio.sleep(0.05)
    return await texts_to(number)


async def test_a_failure_deciding_the_payment_alert_still_settles_the_push(client, monkeypatch):
    shop = await make_shop()
    monkeypatch.setattr(payment_alerts, "_FAILURES", "SELECT count(*) FROM no_such_table {tenant}")
    msisdn = phone()
    for _ in range(payment_alerts.FAILED_PAYMENTS):
        await _fail_payment(client, shop, msisdn)
    pushes = await sql("SELECT status FROM stk_request WHERE tenant_id = :t", t=shop.tenant_id)
    assert [p["status"] for p in pushes] == ["failed"] * payment_alerts.FAILED_PAYMENTS
    assert await _alerts(shop.tenant_id, "staff.failed_payments") == []


@pytest.mark.parametrize("event", ["staff.failed_logins", "staff.failed_payments"])
async def test_the_new_alerts_are_rules_by_e_mail_with_both_wordings(client, event):
    _, headers = await make_user_headers(client)
    rules = {r["event"]: r for r in (await client.get("/api/v1/notifications/rules",
                                                        headers=headers)).json()}  # fmt: skip
    assert rules[event]["channels"] == ["email"] and rules[event]["enabled"]
    assert "{isp}" in rules[event]["template_en"] and "{isp}" in rules[event]["template_sw"]


async def test_the_messages_page_lists_them_and_saving_a_wording_keeps_the_e_mail(app):
    isp = await make_tenant()
    async with signed_in(app, isp) as page:
        shown = await page.get("/admin/messages")
        assert shown.status_code == 200
        for event, says in (("staff.failed_logins", "a burst of failed staff sign-ins"),
                            ("staff.failed_payments", "from one phone failed again")):  # fmt: skip
            assert f'data-event="{event}"' in shown.text and says in shown.text
        wording = "{isp}: {failures} failed sign-ins ({sources})"
        body = {"event": "staff.failed_logins", "enabled": "on", "template_en": wording,
                "template_sw": ""}  # fmt: skip
        saved = await page.post("/admin/messages/rules", body)
        assert saved.status_code == 303, saved.text
    [rule] = await sql("SELECT * FROM notification_rule WHERE tenant_id = :t", t=isp.id)
    assert (rule["event"], rule["template_en"], rule["channels"]) == (
        "staff.failed_logins", wording, ["email"])  # fmt: skip
