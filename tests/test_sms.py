"""The SMS channel (api/sms/): messages queued in their cause's transaction and sent after it
commits, through the stack's fake Africa's Talking, with delivery reports from the fake posted
to the stack's API; the ISP's account when it has one, the platform's otherwise."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api import crypto
from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, ServiceUnavailable
from api.models import AuditEvent, SmsMessage
from api.sms import service
from api.sms.africastalking import Account
from api.sms.service import SmsNotSent, send_now, send_sms
from api.sms.tasks import sweep_sms
from tests.factories import count, make_tenant, make_user_headers
from tests.radius.conftest import sql

SETTINGS = "/api/v1/sms/settings"
HOOK = "/hooks/sms/delivery"
ISP = {"username": "demo-isp", "api_key": "demo-isp-api-key", "sender_id": "DEMOISP"}
PLATFORM_KEY = "demo-platform-api-key"


def phone() -> str:
    return "+2547" + str(random.randint(10_000_000, 99_999_999))


def key() -> str:
    return "test-" + os.urandom(8).hex()


async def received(to: str) -> list[dict]:
    async with httpx.AsyncClient(timeout=10) as http:
        url = get_settings().at_url.rstrip("/") + "/__fake__/messages"
        return (await http.get(url, params={"to": to})).json()


async def message(message_id: int) -> dict:
    [row] = await sql("SELECT * FROM message WHERE id = :id", id=message_id)
    return dict(row)


async def settled(message_id: int, *statuses: str) -> dict:
    """The message once its delivery report has come (the fake reports after ~300 ms)."""
    for _ in range(60):
        row = await message(message_id)
        if row["status"] in statuses:
            return row
        await asyncio.sleep(0.1)
    return row


async def queue(
    tenant_id: int | None, to: str, body: str = "Your code is 123456", k: str | None = None
) -> int:
    async with unit_of_work() as session:
        return await send_sms(session, tenant_id, to, body, "otp", k or key())


# ------------------------------------------------------------------ sending


async def test_a_message_is_sent_after_commit_then_delivered():
    tenant = await make_tenant()
    to = phone()
    message_id = await queue(tenant.id, to)
    row = await message(message_id)
    assert (row["status"], row["account"], row["status_code"]) == ("sent", "platform", 101)
    assert row["provider_message_id"].startswith("ATXid_")
    assert (str(row["cost"]), row["currency"]) == ("0.8000", "KES")
    assert row["sent_at"] is not None and row["final_at"] is None

    row = await settled(message_id, "delivered")
    assert (row["status"], row["provider_status"], row["network_code"]) == (
        "delivered", "Success", "63902",
    )  # fmt: skip
    assert row["final_at"] is not None
    [sms] = await received(to)
    assert sms["message"] == "Your code is 123456"
    # No ISP account: the platform's account and sender id.
    assert (sms["username"], sms["from"]) == ("mnetifi-platform", "MNETIFI")


async def test_nothing_is_sent_when_the_cause_rolls_back():
    tenant, to = await make_tenant(), phone()
    with pytest.raises(RuntimeError):
        async with unit_of_work() as session:
            await send_sms(session, tenant.id, to, "never", "otp", key())
            raise RuntimeError("the cause failed")
    assert await count(SmsMessage, tenant_id=tenant.id) == 0
    assert await received(to) == []


async def test_the_isp_account_is_used_when_set_the_platforms_otherwise(client):
    tenant, headers = await make_user_headers(client)
    assert (await client.put(SETTINGS, headers=headers, json=ISP)).status_code == 200
    to = phone()
    row = await message(await queue(tenant.id, to))
    assert (row["status"], row["account"]) == ("sent", "isp")
    assert [(m["username"], m["from"]) for m in await received(to)] == [("demo-isp", "DEMOISP")]

    # Platform messages always go out on the platform's account.
    to = phone()
    row = await message(await queue(None, to))
    assert (row["account"], row["tenant_id"]) == ("platform", None)
    assert [m["username"] for m in await received(to)] == ["mnetifi-platform"]

    # Back to the platform's account once the ISP removes its own.
    assert (await client.delete(SETTINGS, headers=headers)).json()["sends_with"] == "platform"
    to = phone()
    assert (await message(await queue(tenant.id, to)))["account"] == "platform"


async def test_a_wrong_isp_key_fails_the_message_with_the_reason(client):
    tenant, headers = await make_user_headers(client)
    await client.put(SETTINGS, headers=headers, json=ISP | {"api_key": "not-the-key"})
    row = await message(await queue(tenant.id, phone()))
    assert (row["status"], row["account"]) == ("failed", "isp")
    assert "refused the username or API key" in row["error"]
    # Told at once, it is the ISP's to fix (422), not an outage (503).
    response = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": phone()})
    assert response.status_code == 422
    assert "refused the username or API key" in response.json()["detail"]


@pytest.mark.parametrize(
    ("to", "code", "reason"),
    [
        ("+254700000001", 403, "InvalidPhoneNumber"),
        ("+254700000002", 405, "InsufficientBalance"),
    ],
)
async def test_refused_numbers_are_failed_with_their_reason(to, code, reason):
    row = await message(await queue(None, to))
    assert (row["status"], row["status_code"], row["provider_status"]) == ("failed", code, reason)
    assert reason in row["error"] and row["final_at"] is not None
    assert row["provider_message_id"] is None


async def test_a_failed_delivery_report_fails_the_message():
    message_id = await queue(None, "+254700000003")
    assert (await message(message_id))["status"] == "sent"
    row = await settled(message_id, "failed")
    assert (row["status"], row["error"]) == ("failed", "Failed: AbsentSubscriber")


async def test_provider_500_fails_the_message_and_the_caller_hears_it():
    message_id = await queue(None, "+254700000004")
    row = await message(message_id)
    assert (row["status"], row["error"]) == ("failed", "Africa's Talking answered HTTP 500")
    with pytest.raises(ServiceUnavailable, match="HTTP 500"):
        await send_now(None, "+254700000004", "x", "otp", key())
    with pytest.raises(SmsNotSent, match="InsufficientBalance"):
        await send_now(None, "+254700000002", "x", "otp", key())


async def test_provider_down_fails_the_message_and_the_api_answers_503(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "at_url", "http://127.0.0.1:9")  # nothing listens
    tenant, headers = await make_user_headers(client)
    response = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": phone()})
    assert response.status_code == 503
    assert "could not be reached" in response.json()["detail"]
    [row] = await sql("SELECT * FROM message WHERE tenant_id = :t", t=tenant.id)
    assert (row["status"], row["purpose"]) == ("failed", "test")
    assert "could not be reached" in row["error"]


async def test_the_test_endpoint_sends_and_shows_the_outcome(client):
    tenant, headers = await make_user_headers(client)
    to = phone()
    response = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": to})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["recipient"]) == ("sent", to)
    refused = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": "+254700000001"})
    assert refused.status_code == 422 and "InvalidPhoneNumber" in refused.json()["detail"]
    listed = (await client.get("/api/v1/sms/messages", headers=headers)).json()
    assert [m["recipient"] for m in listed] == ["+254700000001", to]
    assert "body" not in listed[0]  # a message may hold a one-time code


# ------------------------------------------------------------------ exactly once


async def test_the_same_key_sends_once():
    tenant, to, k = await make_tenant(), phone(), key()
    first = await queue(tenant.id, to, k=k)
    again = await queue(tenant.id, to, k=k)
    assert first == again
    assert len(await received(to)) == 1
    assert await count(SmsMessage, tenant_id=tenant.id) == 1
    with pytest.raises(Conflict):
        await queue(tenant.id, to, body="another text", k=k)


async def test_the_same_key_sent_concurrently_sends_once():
    tenant, to, k = await make_tenant(), phone(), key()
    ids = await asyncio.gather(*(queue(tenant.id, to, k=k) for _ in range(5)))
    assert len(set(ids)) == 1
    assert len(await received(to)) == 1
    assert await count(SmsMessage, tenant_id=tenant.id) == 1


async def test_keys_are_per_isp_and_platform():
    a, b, k = await make_tenant(), await make_tenant(), key()
    ids = {
        await queue(a.id, phone(), k=k),
        await queue(b.id, phone(), k=k),
        await queue(None, phone(), k=k),
    }
    assert len(ids) == 3


async def test_deliver_twice_sends_once():
    to = phone()
    async with unit_of_work() as session:
        message_id, _ = await service._enqueue(session, None, to, "hi", "otp", key())
    outs = await asyncio.gather(service.deliver(message_id), service.deliver(message_id))
    # One claims and sends; the other finds it taken and only reports how it stands.
    assert "sent" in {o.status for o in outs} <= {"sending", "sent", "delivered"}
    assert len(await received(to)) == 1
    assert (await message(message_id))["status"] in ("sent", "delivered")


async def test_the_sweep_sends_what_was_left_queued_and_abandons_hung_sends():
    left, hung = phone(), phone()
    async with unit_of_work() as session:  # queued, but its after-commit send never ran
        left_id, _ = await service._enqueue(session, None, left, "hi", "otp", key())
        hung_id, _ = await service._enqueue(session, None, hung, "hi", "otp", key())
    await sql(
        "UPDATE message SET created_at = now() - interval '1 minute' WHERE id = :i", i=left_id
    )
    await sql(
        "UPDATE message SET status = 'sending', updated_at = now() - interval '10 minutes' "
        "WHERE id = :i",
        i=hung_id,
    )
    await sweep_sms()  # (the stack's worker may sweep it first: still one message)
    assert (await message(left_id))["status"] in ("sent", "delivered")
    assert len(await received(left)) == 1
    row = await message(hung_id)
    assert row["status"] == "failed" and "not sent again" in row["error"]
    assert await received(hung) == []


@pytest.mark.parametrize(
    ("to", "body", "purpose", "k"),
    [
        ("0712345678", "hi", "otp", "k"),  # not E.164
        ("+254712345678", "", "otp", "k"),
        ("+254712345678", "x" * 1601, "otp", "k"),
        ("+254712345678", "hi", "One Time", "k"),
        ("+254712345678", "hi", "otp", ""),
    ],
)
async def test_bad_messages_are_refused_before_anything_is_stored(to, body, purpose, k):
    tenant = await make_tenant()
    with pytest.raises(BadRequest):
        async with unit_of_work() as session:
            await send_sms(session, tenant.id, to, body, purpose, k)
    assert await count(SmsMessage, tenant_id=tenant.id) == 0


# ------------------------------------------------------------------ delivery reports


async def report(client, **form: str) -> httpx.Response:
    return await client.post(HOOK, data=form)


async def test_a_report_for_an_unknown_id_is_acknowledged_and_ignored(client):
    response = await report(
        client, id="ATXid_unknown", status="Success", phoneNumber="+254712345678"
    )
    assert (response.status_code, response.json()) == (200, {"status": "ignored"})


async def test_reports_only_move_forward_and_duplicates_change_nothing(client):
    to = phone()
    message_id = await queue(None, to)
    provider_id = (await message(message_id))["provider_message_id"]
    row = await settled(message_id, "delivered")
    assert row["status"] == "delivered"
    final_at = row["final_at"]
    # The fake's own report came; the same again, and a later "Failed", change nothing.
    for status in ("Success", "Failed", "Buffered"):
        response = await report(client, id=provider_id, status=status, phoneNumber=to,
                                failureReason="AbsentSubscriber")  # fmt: skip
        assert response.json() == {"status": "ignored"}
    row = await message(message_id)
    assert (row["status"], row["final_at"], row["error"]) == ("delivered", final_at, None)


async def test_magic_duplicate_reports_deliver_once():
    message_id = await queue(None, "+254700000005")
    row = await settled(message_id, "delivered")
    assert row["status"] == "delivered"
    await asyncio.sleep(0.3)
    [sms] = [m for m in await received("+254700000005") if m["id"] == row["provider_message_id"]]
    answers = [r["answer"] for r in sms["reports"]]
    assert answers == ['{"status":"applied"}', '{"status":"ignored"}']


async def test_a_report_naming_another_number_is_ignored(client):
    await post_config(dlr_delay_ms=3000)  # our report comes first
    try:
        to = phone()
        message_id = await queue(None, to)
        provider_id = (await message(message_id))["provider_message_id"]
        response = await report(client, id=provider_id, status="Failed", phoneNumber=phone())
        assert response.json() == {"status": "ignored"}
        assert (await message(message_id))["status"] == "sent"
        # A progress report keeps it sent, noting AT's word; then the final one.
        await report(client, id=provider_id, status="Buffered", phoneNumber=to)
        assert (await message(message_id))["provider_status"] == "Buffered"
        await report(client, id=provider_id, status="Rejected", phoneNumber=to.lstrip("+"),
                     failureReason="UserInBlackList")  # fmt: skip
        row = await message(message_id)
        assert (row["status"], row["error"]) == ("failed", "Rejected: UserInBlackList")
    finally:
        await post_config(dlr_delay_ms=300)


async def post_config(**changes) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        url = get_settings().at_url.rstrip("/") + "/__fake__/config"
        assert (await http.post(url, json=changes)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"status=Success&phoneNumber=%2B254712345678",  # no id
        b"id=ATXid_1&phoneNumber=%2B254712345678",  # no status
        b"id=ATXid_1&status=Delivered&phoneNumber=%2B254712345678",  # not an AT status
        b"id=ATXid_1&status=Success",  # no number
        b"id=ATXid_1&status=Success&phoneNumber=banana",
        b"id=ATXid_1&status=Failed&phoneNumber=%2B254712345678&failureReason=%3Cscript%3E",
        b"id=ATXid_1&status=Success&phoneNumber=%2B254712345678&id=%00",
        b"\xff\xfe not utf-8",
        b'{"id": "ATXid_1"}',  # JSON, not a form
        b"",
        b"id=" + b"x" * 5000,
    ],
)
async def test_malformed_reports_are_4xx_never_500(client, body):
    response = await client.post(
        HOOK, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


async def test_reports_from_outside_the_allowlist_are_refused(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "sms_callback_allowlist", "10.0.0.0/8")
    to = phone()
    message_id = await queue(None, to)
    await settled(message_id, "delivered")  # the fake's report reached the stack's API
    provider_id = (await message(message_id))["provider_message_id"]
    response = await report(client, id=provider_id, status="Failed", phoneNumber=to)
    assert response.status_code == 403


# ------------------------------------------------------------------ the ISP's account


async def test_the_api_key_is_encrypted_and_never_shown_nor_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    tenant, headers = await make_user_headers(client)
    assert (await client.get(SETTINGS, headers=headers)).json()["sends_with"] == "platform"
    saved = await client.put(SETTINGS, headers=headers, json=ISP)
    shown = await client.get(SETTINGS, headers=headers)
    for body in (saved.json(), shown.json()):
        assert body["has_api_key"] and body["sends_with"] == "isp"
        assert body["username"] == "demo-isp" and body["delivery_report_url"].endswith(HOOK)
    sent = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": phone()})
    listed = await client.get("/api/v1/sms/messages", headers=headers)
    await settled(sent.json()["id"], "delivered")

    [row] = await sql("SELECT * FROM sms_settings WHERE tenant_id = :t", t=tenant.id)
    assert crypto.decrypt(row["api_key_enc"]) == ISP["api_key"]
    events = await sql("SELECT details FROM audit_event WHERE tenant_id = :t", t=tenant.id)
    stored = json.dumps(dict(row), default=str) + json.dumps([e["details"] for e in events])
    every_text = [saved.text, shown.text, sent.text, listed.text, caplog.text, stored]
    # The stack's own API (it took the delivery report) logs no key either.
    api_log = Path(os.environ["MNETIFI_RUN_DIR"], "api.log")
    every_text.append(await asyncio.to_thread(api_log.read_text, errors="replace"))
    for secret in (ISP["api_key"], PLATFORM_KEY):
        assert not any(secret in text for text in every_text)
    assert "demo-isp-api-key" not in repr(Account("u", ISP["api_key"], None, "isp"))


async def test_changing_the_account_keeps_the_key_not_sent_again(client):
    tenant, headers = await make_user_headers(client)
    await client.put(SETTINGS, headers=headers, json=ISP)
    [before] = await sql("SELECT api_key_enc FROM sms_settings WHERE tenant_id = :t", t=tenant.id)
    response = await client.put(SETTINGS, headers=headers, json={"username": "demo-isp"})
    assert response.status_code == 200 and response.json()["sender_id"] is None
    [after] = await sql("SELECT api_key_enc FROM sms_settings WHERE tenant_id = :t", t=tenant.id)
    assert after["api_key_enc"] == before["api_key_enc"]


@pytest.mark.parametrize(
    "body",
    [
        {"username": "demo-isp"},  # the first save needs the key
        ISP | {"username": "has space"},
        ISP | {"sender_id": "MUCH-TOO-LONG-ID"},
        ISP | {"api_key": ""},
        ISP | {"unknown": 1},
    ],
)
async def test_invalid_settings_are_422_and_nothing_stored(client, body):
    tenant, headers = await make_user_headers(client)
    response = await client.put(SETTINGS, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert not await sql("SELECT 1 FROM sms_settings WHERE tenant_id = :t", t=tenant.id)


async def test_bad_test_numbers_are_422(client):
    _, headers = await make_user_headers(client)
    for to in ("0712345678", "+0712345678", "", "+2547123456789012"):
        response = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": to})
        assert response.status_code == 422


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_other_roles_cannot_change_or_send(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.put(SETTINGS, headers=headers, json=ISP)).status_code == 403
    assert (await client.delete(SETTINGS, headers=headers)).status_code == 403
    test = await client.post(f"{SETTINGS}/test", headers=headers, json={"to": phone()})
    assert test.status_code == 403
    assert await count(SmsMessage, tenant_id=tenant.id) == 0
    assert await count(AuditEvent, tenant_id=tenant.id, action="sms.settings.create") == 0


async def test_anonymous_is_401(client):
    assert (await client.get(SETTINGS)).status_code == 401
    assert (await client.get("/api/v1/sms/messages")).status_code == 401


async def test_each_isp_sees_only_its_own_account_and_messages(client):
    a, a_headers = await make_user_headers(client)
    b, b_headers = await make_user_headers(client)
    await client.put(SETTINGS, headers=a_headers, json=ISP)
    await queue(a.id, phone())
    assert (await client.get(SETTINGS, headers=b_headers)).json()["has_api_key"] is False
    assert (await client.get("/api/v1/sms/messages", headers=b_headers)).json() == []
    assert (await client.delete(SETTINGS, headers=b_headers)).status_code == 404
    assert (await client.get(SETTINGS, headers=a_headers)).json()["has_api_key"] is True


async def test_the_cli_sets_an_account_with_the_key_from_the_environment():
    tenant = await make_tenant()
    env = {k: v for k, v in os.environ.items() if k.startswith("MNETIFI_") or k == "PATH"}

    def cli(*args: str, key: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "api.cli", "sms", "account", "--tenant", *args]
        extra = {"AT_API_KEY": key} if key else {}
        return subprocess.run(command, env=env | extra, capture_output=True, text=True, timeout=60)

    first = await asyncio.to_thread(cli, tenant.slug, "--username", "demo-isp")
    assert first.returncode == 1 and "api_key" in first.stderr + first.stdout
    saved = await asyncio.to_thread(
        cli, tenant.slug, "--username", "demo-isp", "--sender-id", "DEMOISP", key=ISP["api_key"]
    )
    assert saved.returncode == 0, saved.stderr
    assert "has_api_key: True" in saved.stdout and "sends_with: isp" in saved.stdout
    assert ISP["api_key"] not in saved.stdout + saved.stderr
    to = phone()
    assert (await message(await queue(tenant.id, to)))["account"] == "isp"
    assert [m["from"] for m in await received(to)] == ["DEMOISP"]
