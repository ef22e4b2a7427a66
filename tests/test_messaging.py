"""The outbox of every channel (api/messaging/): each message decided once per key in its
cause's transaction, sent after commit through the stack's fakes (Africa's Talking SMS and
WhatsApp, Meta's Cloud API) and its real local SMTP server, retried with backoff on temporary
errors, failed for good on permanent ones, moved by delivery and status reports; and the
staff's list of them."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest

from api.config import get_settings
from api.db import unit_of_work
from api.errors import BadRequest
from api.messaging import outbox
from api.messaging.tasks import sweep_messages
from api.models import Message
from tests.factories import count, make_tenant, make_user_headers, received_mail
from tests.messaging_world import (
    at_isp,
    atwa_url,
    enqueue,
    fake,
    key,
    meta_isp,
    meta_url,
    phone,
    row,
    settled,
)
from tests.radius.conftest import sql

MESSAGES = "/api/v1/messages"


@pytest.fixture
def quick_retries(monkeypatch):
    """Backoff of 0.2 s, 0.4 s, ...: the sweep's later tries within a test."""
    monkeypatch.setattr(get_settings(), "message_retry_base", timedelta(milliseconds=200))


async def retried(message_id: int, *statuses: str) -> dict:
    """Sweeps (as the worker does) until the message reaches one of `statuses`."""
    for _ in range(60):
        found = await row(message_id)
        if found["status"] in statuses:
            return found
        await sweep_messages()
        await asyncio.sleep(0.2)
    return found


async def received(base: str, to: str) -> list[dict]:
    return await fake(base, "GET", "/__fake__/messages", params={"to": to})


# ------------------------------------------------------------------ exactly once, per channel


async def _channel_world(client, channel: str):
    """(tenant id, recipient, enqueue kwargs, how to count what the provider received)."""
    marker = secrets.token_hex(6)
    if channel == "meta":
        tenant, _, _ = await meta_isp(client)
        to = phone()
        return tenant.id, "whatsapp", to, {}, lambda: received(meta_url(), to)
    if channel == "at_whatsapp":
        tenant, _, _ = await at_isp(client)
        to = phone()
        return tenant.id, "whatsapp", to, {}, lambda: received(atwa_url(), to)
    tenant = await make_tenant()
    if channel == "sms":
        to = phone()
        at = get_settings().at_url
        return tenant.id, "sms", to, {}, lambda: received(at, to)
    to = f"wanjiku-{marker}@example.com"
    return tenant.id, "email", to, {"subject": f"Hello {marker}"}, lambda: _mails(marker)


async def _mails(marker: str) -> list[str]:
    from tests.factories import MAILBOX  # noqa: PLC0415 - the stack's mailbox directory

    await asyncio.sleep(0.3)
    return [p.name for p in MAILBOX.glob("*.eml") if marker.encode() in p.read_bytes()]


@pytest.mark.parametrize("channel", ["sms", "meta", "at_whatsapp", "email"])
async def test_a_key_asked_twice_sends_once(client, channel):
    tenant_id, kind, to, extra, got = await _channel_world(client, channel)
    k = key()
    first = await enqueue(tenant_id, kind, to, k, **extra)
    again = await enqueue(tenant_id, kind, to, k, **extra)
    assert first is not None and again is None
    found = await row(first)
    assert found["status"] in ("sent", "delivered") and found["attempts"] == 1
    assert found["channel"] == kind
    assert len(await got()) == 1
    assert await count(Message, tenant_id=tenant_id) == 1


@pytest.mark.parametrize("channel", ["sms", "meta", "at_whatsapp", "email"])
async def test_two_senders_racing_on_one_key_send_once(client, channel):
    tenant_id, kind, to, extra, got = await _channel_world(client, channel)
    k = key()
    ids = await asyncio.gather(*(enqueue(tenant_id, kind, to, k, **extra) for _ in range(5)))
    assert len([i for i in ids if i is not None]) == 1
    [message_id] = [i for i in ids if i is not None]
    # And two deliveries of it at once (the after-commit send and a sweep): one call.
    await asyncio.gather(outbox.send(message_id), outbox.send(message_id))
    assert len(await got()) == 1
    assert (await row(message_id))["attempts"] == 1


async def test_a_stopped_process_s_message_is_sent_once_by_the_sweep(client):
    """Decided and committed, but the process died before its after-commit send."""
    tenant, _, _ = await meta_isp(client)
    to = phone()
    async with unit_of_work() as session:
        message_id, created = await outbox.decide(
            session, tenant.id, "whatsapp", to, "hi", "notice", key()
        )
    assert created
    assert (await row(message_id))["status"] == "queued"
    await sql("UPDATE message SET created_at = now() - interval '1 minute' WHERE id = :i",
              i=message_id)  # fmt: skip
    await asyncio.gather(sweep_messages(), sweep_messages())  # (and the stack's worker may too)
    found = await settled(message_id, "delivered")
    assert found["status"] == "delivered" and found["attempts"] == 1
    assert len(await received(meta_url(), to)) == 1


async def test_rolled_back_causes_send_nothing(client):
    tenant, _, _ = await at_isp(client)
    to = phone()
    with pytest.raises(RuntimeError):
        async with unit_of_work() as session:
            await outbox.enqueue(session, tenant.id, "whatsapp", to, "never", "notice", key())
            raise RuntimeError("the cause failed")
    assert await count(Message, tenant_id=tenant.id) == 0
    assert await received(atwa_url(), to) == []


# ------------------------------------------------------------------ retries and failures


@pytest.mark.parametrize("world", [meta_isp, at_isp])
async def test_a_temporary_error_is_retried_with_backoff_then_sent(client, quick_retries, world):
    tenant, _, account = await world(client)
    message_id = await enqueue(tenant.id, "whatsapp", "+254700000012")
    first = await row(message_id)  # the after-commit try got a 5xx
    assert (first["status"], first["attempts"]) == ("queued", 1)
    assert first["next_attempt_at"] is not None and "500" in first["error"]
    found = await retried(message_id, "sent", "delivered", "failed")
    assert found["status"] in ("sent", "delivered") and found["attempts"] == 3
    assert found["provider"] == account["provider"] and found["provider_message_id"]


async def test_a_provider_failing_every_time_is_failed_after_its_tries(client, quick_retries):
    tenant, _, _ = await meta_isp(client)
    message_id = await enqueue(tenant.id, "whatsapp", "+254700000015", attempts=3)
    found = await retried(message_id, "failed")
    assert (found["status"], found["attempts"]) == ("failed", 3)
    assert found["error"].startswith("Meta answered HTTP 500 (code 131000)")
    assert found["final_at"] is not None and found["next_attempt_at"] is None


async def test_backoff_doubles_and_is_capped(monkeypatch):
    monkeypatch.setattr(get_settings(), "message_retry_base", timedelta(seconds=30))
    monkeypatch.setattr(get_settings(), "message_retry_max", timedelta(minutes=5))
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 7)]
    assert waits == [30, 60, 120, 240, 300, 300]


async def test_the_next_try_waits_for_its_time(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "message_retry_base", timedelta(minutes=10))
    tenant, _, _ = await at_isp(client)
    message_id = await enqueue(tenant.id, "whatsapp", "+254700000015")
    assert (await row(message_id))["status"] == "queued"
    await sweep_messages()  # not due for ten minutes: untouched
    found = await row(message_id)
    assert (found["status"], found["attempts"]) == ("queued", 1)


@pytest.mark.parametrize(
    ("world", "reason"),
    [(meta_isp, "code 131026"), (at_isp, "InvalidPhoneNumber")],
)
async def test_a_permanent_error_fails_at_once(client, world, reason):
    tenant, _, _ = await world(client)
    message_id = await enqueue(tenant.id, "whatsapp", "+254700000011")
    found = await row(message_id)
    assert (found["status"], found["attempts"]) == ("failed", 1)
    assert reason in found["error"] and found["provider_message_id"] is None


async def test_an_sms_retried_by_the_outbox(quick_retries):
    """SMS through enqueue gets the retries too (send_sms keeps its one try)."""
    message_id = await enqueue(None, "sms", "+254700000004", attempts=2)
    found = await retried(message_id, "failed")
    assert (found["status"], found["attempts"]) == ("failed", 2)
    assert found["error"] == "Africa's Talking answered HTTP 500"


async def test_whatsapp_without_an_account_fails_with_the_reason():
    tenant = await make_tenant()
    message_id = await enqueue(tenant.id, "whatsapp", phone())
    found = await row(message_id)
    assert found["status"] == "failed" and "no WhatsApp account" in found["error"]


# ------------------------------------------------------------------ reports


async def test_meta_status_webhooks_move_the_message(client):
    tenant, _, account = await meta_isp(client)
    to = phone()
    message_id = await enqueue(tenant.id, "whatsapp", to)
    sent = await row(message_id)
    assert (sent["status"], sent["provider"], sent["account"]) == ("sent", "meta", "isp")
    assert sent["provider_message_id"].startswith("wamid.") and sent["cost"] is None
    found = await settled(message_id, "delivered")
    assert (found["status"], found["provider_status"]) == ("delivered", "delivered")
    [got] = await received(meta_url(), to)
    assert got["template"]["name"] == "mnetifi_notice"
    assert got["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "Your voucher AB12CD expires in 1 hour"}
    ]
    assert [w["answer"] for w in got["webhooks"]] == ['{"applied":1,"ignored":0}'] * 2

    failed = await enqueue(tenant.id, "whatsapp", "+254700000014")
    found = await settled(failed, "failed")
    assert found["error"].startswith("failed: 131049")


async def test_at_whatsapp_callbacks_move_the_message_and_the_cost_is_kept(client):
    tenant, _, _ = await at_isp(client)
    message_id = await enqueue(tenant.id, "whatsapp", phone())
    sent = await row(message_id)
    assert (sent["status"], sent["provider"]) == ("sent", "at_whatsapp")
    assert (str(sent["cost"]), sent["currency"]) == ("0.5000", "KES")
    found = await settled(message_id, "delivered")
    assert found["provider_status"] == "Delivered" and found["final_at"] is not None
    failed = await settled(await enqueue(tenant.id, "whatsapp", "+254700000014"), "failed")
    assert failed["error"] == "Failed: NotOnWhatsApp"
    silent = await enqueue(tenant.id, "whatsapp", "+254700000013")
    await asyncio.sleep(1)
    assert (await row(silent))["status"] == "sent"  # no report: stays sent


async def test_a_template_of_the_caller_s_choosing(client):
    tenant, _, _ = await meta_isp(client)
    to = phone()
    message_id = await enqueue(tenant.id, "whatsapp", to, template="hello_world", params=[])
    assert (await row(message_id))["status"] == "sent"
    [got] = await received(meta_url(), to)
    assert got["template"] == {"name": "hello_world", "language": {"code": "en"}}
    unknown = await enqueue(tenant.id, "whatsapp", phone(), template="no_such_template")
    found = await row(unknown)
    assert found["status"] == "failed" and "code 132001" in found["error"]


# ------------------------------------------------------------------ e-mail


async def test_email_goes_out_from_the_isp_s_sender(client):
    tenant, headers = await make_user_headers(client)
    sender = {"from_address": "billing@kwetu.example", "from_name": "Kwetu WiFi"}
    assert (await client.put("/api/v1/email/settings", headers=headers, json=sender)).is_success
    marker = secrets.token_hex(6)
    to = f"customer-{marker}@example.com"
    message_id = await enqueue(tenant.id, "email", to, subject=f"Receipt {marker}",
                               body=f"Thank you {marker}")  # fmt: skip
    found = await row(message_id)
    assert (found["status"], found["provider"], found["account"]) == ("sent", "smtp", "isp")
    got = await received_mail(marker)
    assert got["From"] == "Kwetu WiFi <billing@kwetu.example>"
    assert got["Message-ID"] == found["provider_message_id"]
    assert got["Subject"] == f"Receipt {marker}"


async def test_email_on_the_isp_s_own_smtp_server(client):
    """The ISP's own server (here the stack's local one, named as the ISP would) and login."""
    tenant, headers = await make_user_headers(client)
    settings = get_settings()
    sender = {"from_address": "noc@kwetu.example", "from_name": "Kwetu", "smtp_tls": "none",
              "smtp_host": settings.smtp_host, "smtp_port": settings.smtp_port}  # fmt: skip
    saved = await client.put("/api/v1/email/settings", headers=headers, json=sender)
    assert saved.json()["sends_with"] == "isp" and saved.json()["smtp_port"] == settings.smtp_port
    marker = secrets.token_hex(6)
    message_id = await enqueue(tenant.id, "email", f"x-{marker}@example.com", subject=marker)
    assert (await row(message_id))["status"] == "sent"
    assert "noc@kwetu.example" in (await received_mail(marker))["From"]


async def test_email_refusals_temporary_and_permanent(quick_retries):
    domain = secrets.token_hex(4) + ".example"
    refused = await enqueue(None, "email", f"smtp-550@{domain}", subject="x")
    found = await row(refused)
    assert (found["status"], found["status_code"]) == ("failed", 550)
    assert "550" in found["error"]
    later = await enqueue(None, "email", f"smtp-451-twice@{domain}", subject="y")
    assert (await row(later))["status"] == "queued"
    found = await retried(later, "sent", "failed")
    assert (found["status"], found["attempts"]) == ("sent", 3)


@pytest.mark.parametrize(
    ("channel", "to", "extra"),
    [
        ("fax", "+254712345678", {}),
        ("sms", "0712345678", {}),
        ("whatsapp", "+254712345678", {"subject": "no"}),
        ("email", "not an address", {"subject": "x"}),
        ("email", "a@example.com", {}),  # no subject
        ("email", "a@example.com", {"subject": "two\nlines"}),
        ("sms", "+254712345678", {"template": "hello_world"}),
        ("whatsapp", "+254712345678", {"template": "Not A Name"}),
        ("whatsapp", "+254712345678", {"params": ["x" * 2000]}),
    ],
)
async def test_bad_messages_are_refused_before_anything_is_stored(channel, to, extra):
    tenant = await make_tenant()
    with pytest.raises(BadRequest):
        await enqueue(tenant.id, channel, to, **extra)
    assert await count(Message, tenant_id=tenant.id) == 0


# ------------------------------------------------------------------ the staff's list


async def test_staff_list_and_filter_messages_in_keyset_pages(client):
    tenant, headers, _ = await at_isp(client)
    to = phone()
    wa = [await enqueue(tenant.id, "whatsapp", to) for _ in range(3)]
    sms = await enqueue(tenant.id, "sms", phone())
    mail = await enqueue(tenant.id, "email", "a@example.com", subject="s")
    await enqueue((await make_tenant()).id, "sms", phone())  # another ISP's
    everything = (await client.get(MESSAGES, headers=headers)).json()
    assert [m["id"] for m in everything["items"]] == [mail, sms, *reversed(wa)]
    assert everything["next_before"] is None and "body" not in everything["items"][0]

    page = (await client.get(MESSAGES, headers=headers, params={"limit": 2})).json()
    assert [m["id"] for m in page["items"]] == [mail, sms] and page["next_before"] == sms
    rest = await client.get(MESSAGES, headers=headers, params={"before": sms, "limit": 2})
    assert [m["id"] for m in rest.json()["items"]] == [wa[2], wa[1]]

    only = {"channel": "whatsapp", "recipient": to, "status": "sent"}
    # The fake's reports may have delivered some by now: filter on both statuses.
    listed = (await client.get(MESSAGES, headers=headers, params=only)).json()["items"]
    delivered_only = only | {"status": "delivered"}
    delivered = (await client.get(MESSAGES, headers=headers, params=delivered_only)).json()
    delivered = delivered["items"]
    assert sorted(m["id"] for m in listed + delivered) == wa
    assert all(m["provider"] == "at_whatsapp" for m in listed + delivered)
    since = (await client.get(MESSAGES, headers=headers,
                              params={"since": "2999-01-01T00:00:00+03:00"})).json()  # fmt: skip
    assert since["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"channel": "fax"},
        {"status": "lost"},
        {"since": "yesterday"},
        {"since": "2026-12-01T10:00:00"},  # no zone
        {"before": "0"},
        {"before": "x"},
        {"limit": "0"},
        {"limit": "201"},
        {"recipient": "x" * 300},
    ],
)
async def test_bad_filters_are_422_with_a_sentence(client, params):
    _, headers = await make_user_headers(client)
    response = await client.get(MESSAGES, headers=headers, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_roles_without_settings_read_cannot_list(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.get(MESSAGES, headers=headers)).status_code == 403
    assert (await client.get(MESSAGES)).status_code == 401
