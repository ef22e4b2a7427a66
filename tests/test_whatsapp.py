"""An ISP's WhatsApp account (api/whatsapp/) and the providers' status callbacks: Meta's signed
webhook on the ISP's own URL (the GET handshake, a forged or missing signature refused and
recorded nowhere), Africa's Talking's callback; switching provider keeps the history."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from api import crypto
from api.messaging import meta
from api.models import AuditEvent
from tests.factories import count, make_tenant, make_user_headers
from tests.messaging_world import (
    WA,
    at_isp,
    atwa_url,
    enqueue,
    fake,
    meta_isp,
    phone,
    row,
    settled,
)
from tests.radius.conftest import sql


def _path(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def status_body(wamid: str, to: str, status: str = "delivered") -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
            {"id": wamid, "status": status, "timestamp": "1", "recipient_id": to.lstrip("+")}
        ]}}]}]}).encode()  # fmt: skip


async def _sent_but_unreported(client):
    """A Meta ISP's message, sent, its webhooks not yet come (held back by the fake)."""
    tenant, headers, account = await meta_isp(client)
    from tests.messaging_world import fake, meta_url  # noqa: PLC0415

    await fake(meta_url(), "POST", "/__fake__/config", json={"delay_ms": 4000})
    try:
        to = phone()
        message_id = await enqueue(tenant.id, "whatsapp", to)
    finally:
        await fake(meta_url(), "POST", "/__fake__/config", json={"delay_ms": 300})
    found = await row(message_id)
    assert found["status"] == "sent"
    return tenant, headers, account, message_id, found["provider_message_id"], to


# ------------------------------------------------------------------ Meta's webhook


async def test_the_handshake_answers_the_challenge_only_with_the_isp_s_verify_token(client):
    _, _, account = await meta_isp(client)  # the fake already made the handshake to register
    url = _path(account["meta_webhook_url"])
    good = {"hub.mode": "subscribe", "hub.verify_token": account["meta_verify_token"],
            "hub.challenge": "1158201444"}  # fmt: skip
    answer = await client.get(url, params=good)
    assert (answer.status_code, answer.text) == (200, "1158201444")
    for wrong in ({"hub.verify_token": "guess"}, {"hub.mode": "unsubscribe"}):
        refused = await client.get(url, params=good | wrong)
        assert refused.status_code == 403 and refused.json()["detail"]
    other_token = url.replace("/whatsapp/", "x/whatsapp/")
    assert (await client.get(other_token, params=good)).status_code == 403
    missing = await client.get(url, params={k: v for k, v in good.items() if k != "hub.challenge"})
    assert missing.status_code == 422


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage", ""])
async def test_a_forged_or_missing_signature_is_refused_and_changes_nothing(client, signature):
    _, _, account, message_id, wamid, to = await _sent_but_unreported(client)
    body = status_body(wamid, to, "failed")
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = await client.post(_path(account["meta_webhook_url"]), content=body, headers=headers)
    assert response.status_code == 403 and "signature" in response.json()["detail"]
    # Signed with another secret (an attacker's own app): refused too.
    forged = meta.sign("not-the-app-secret", body)
    response = await client.post(_path(account["meta_webhook_url"]), content=body,
                                 headers=headers | {"X-Hub-Signature-256": forged})  # fmt: skip
    assert response.status_code == 403
    found = await row(message_id)
    assert (found["status"], found["provider_status"], found["final_at"]) == (
        "sent", "accepted", None,
    )  # fmt: skip


async def test_a_signed_webhook_moves_only_its_own_isp_s_message(client):
    _, _, account, message_id, wamid, to = await _sent_but_unreported(client)
    _, _, other = await meta_isp(client)
    body = status_body(wamid, to, "failed")
    # B's correctly signed webhook naming A's message: B's URL scopes it to B's messages.
    signed_b = meta.sign(other["meta_app_secret"], body)
    answer = await client.post(_path(other["meta_webhook_url"]), content=body,
                               headers={"X-Hub-Signature-256": signed_b})  # fmt: skip
    assert answer.json() == {"applied": 0, "ignored": 1}
    assert (await row(message_id))["status"] == "sent"
    signed = meta.sign(account["meta_app_secret"], status_body(wamid, to, "read"))
    answer = await client.post(_path(account["meta_webhook_url"]),
                               content=status_body(wamid, to, "read"),
                               headers={"X-Hub-Signature-256": signed})  # fmt: skip
    assert answer.json() == {"applied": 1, "ignored": 0}
    found = await row(message_id)
    assert (found["status"], found["provider_status"]) == ("delivered", "read")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": "lost"}]}}]}]}',
        b'{"entry": [{"changes": [{"value": {"statuses": [{"id": "w", "status": "sent", '
        b'"recipient_id": "banana"}]}}]}]}',
        b'{"entry": "x"}',
        b"\xff\xfe",
    ],
)
async def test_malformed_signed_webhooks_are_4xx_never_500(client, body):
    _, _, account = await meta_isp(client)
    signed = meta.sign(account["meta_app_secret"], body)
    response = await client.post(_path(account["meta_webhook_url"]), content=body,
                                 headers={"X-Hub-Signature-256": signed})  # fmt: skip
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


async def test_webhook_urls_of_no_isp_are_403(client):
    for url in ("/hooks/999999999/abc/whatsapp/meta", "/hooks/x1/abc/whatsapp/meta"):
        assert (await client.post(url, content=b"{}")).status_code == 403
        assert (await client.get(url, params={"hub.mode": "subscribe"})).status_code == 403
    assert (await client.post("/hooks/999999999/abc/whatsapp/at", json={})).status_code == 403
    big = await client.post("/hooks/1/abc/whatsapp/meta", content=b"x" * 70_000)
    assert big.status_code == 413


# ------------------------------------------------------------------ Africa's Talking callback


@pytest.mark.parametrize(
    "body",
    [
        {"status": "Delivered", "phoneNumber": "+254712345678"},
        {"id": "ATWAid_1", "status": "Lost", "phoneNumber": "+254712345678"},
        {"id": "ATWAid_1", "status": "Delivered", "phoneNumber": "banana"},
        {"id": "<script>", "status": "Delivered", "phoneNumber": "+254712345678"},
        [],
        "Delivered",
    ],
)
async def test_malformed_at_callbacks_are_4xx(client, body):
    _, _, account = await at_isp(client)
    response = await client.post(_path(account["at_callback_url"]), json=body)
    assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


async def test_an_at_callback_for_an_unknown_message_is_ignored(client):
    _, _, account = await at_isp(client)
    body = {"id": "ATWAid_unknown", "status": "Delivered", "phoneNumber": "+254712345678"}
    response = await client.post(_path(account["at_callback_url"]), json=body)
    assert response.json() == {"applied": 0, "ignored": 1}


# ------------------------------------------------------------------ the account


async def test_switching_provider_keeps_history_and_credentials(client):
    tenant, headers, at_account = await at_isp(client)
    before = await enqueue(tenant.id, "whatsapp", phone())
    await settled(before, "delivered")
    # Meta approved the ISP: the same account moves to Meta's Cloud API.
    _, _, meta_account = await meta_isp(client)  # (a second ISP, only for a registered number)
    switch = {k: meta_account[k] for k in (
        "meta_phone_number_id", "meta_access_token", "meta_app_secret", "meta_verify_token",
        "meta_template")} | {"provider": "meta"}  # fmt: skip
    saved = await client.put(WA, headers=headers, json=switch)
    assert saved.status_code == 200, saved.text
    assert (
        saved.json()["has_at_api_key"] and saved.json()["at_username"] == at_account["at_username"]
    )
    after = await enqueue(tenant.id, "whatsapp", phone())
    assert (await row(after))["provider"] == "meta"
    old = await row(before)
    assert (old["provider"], old["status"]) == ("at_whatsapp", "delivered")
    listed = (await client.get("/api/v1/messages", headers=headers)).json()["items"]
    assert [m["provider"] for m in listed] == ["meta", "at_whatsapp"]
    # And back, typing nothing again.
    back = await client.put(WA, headers=headers, json={"provider": "at_whatsapp"})
    assert back.status_code == 200 and back.json()["provider"] == "at_whatsapp"
    actions = await sql("SELECT action FROM audit_event WHERE tenant_id = :t AND action LIKE "
                        "'whatsapp.%' ORDER BY id", t=tenant.id)  # fmt: skip
    assert [a["action"] for a in actions] == [
        "whatsapp.settings.create", "whatsapp.settings.update", "whatsapp.settings.update",
    ]  # fmt: skip


async def test_secrets_are_encrypted_and_never_shown_nor_logged(client, caplog):
    caplog.set_level(logging.DEBUG)
    tenant, headers, account = await meta_isp(client)
    shown = await client.get(WA, headers=headers)
    [stored] = await sql("SELECT * FROM whatsapp_settings WHERE tenant_id = :t", t=tenant.id)
    assert crypto.decrypt(stored["meta_app_secret_enc"]) == account["meta_app_secret"]
    events = await sql("SELECT changes FROM audit_event WHERE tenant_id = :t", t=tenant.id)
    texts = [shown.text, caplog.text, json.dumps(dict(stored), default=str),
             json.dumps([e["changes"] for e in events], default=str)]  # fmt: skip
    api_log = Path(os.environ["MNETIFI_RUN_DIR"], "api.log")
    logged = await asyncio.to_thread(api_log.read_text, errors="replace")
    texts.append(logged)
    secrets_ = [account[k] for k in ("meta_access_token", "meta_app_secret", "meta_verify_token")]
    for secret in secrets_:
        assert not any(secret in text for text in texts), secret
    hook_token = crypto.decrypt(stored["hook_token_enc"])
    assert hook_token not in logged  # access logs show ***
    body = shown.json()
    assert body["has_meta_app_secret"] and body["meta_webhook_url"].endswith("/whatsapp/meta")


@pytest.mark.parametrize(
    "body",
    [
        {"provider": "meta"},  # nothing of Meta's
        {"provider": "at_whatsapp", "at_username": "u", "at_api_key": "k"},  # no number
        {"provider": "sms"},
        {"provider": "meta", "meta_phone_number_id": "abc"},
        {"provider": "meta", "meta_template": "Has Spaces"},
        {"provider": "at_whatsapp", "at_wa_number": "0712345678"},
        {"provider": "at_whatsapp", "at_api_key": ""},
        {"provider": "at_whatsapp", "unknown": 1},
        {"provider": "meta", "meta_language": "english"},
    ],
)
async def test_invalid_accounts_are_422_and_nothing_stored(client, body):
    tenant, headers = await make_user_headers(client)
    response = await client.put(WA, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert not await sql("SELECT 1 FROM whatsapp_settings WHERE tenant_id = :t", t=tenant.id)
    assert await count(AuditEvent, tenant_id=tenant.id, action="whatsapp.settings.create") == 0


async def test_delete_forgets_the_account_not_the_messages(client):
    tenant, headers, _ = await at_isp(client)
    message_id = await enqueue(tenant.id, "whatsapp", phone())
    gone = await client.delete(WA, headers=headers)
    assert gone.status_code == 200 and gone.json()["provider"] is None
    assert (await client.delete(WA, headers=headers)).status_code == 404
    assert (await row(message_id))["provider"] == "at_whatsapp"
    failed = await row(await enqueue(tenant.id, "whatsapp", phone()))
    assert "no WhatsApp account" in failed["error"]


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_other_roles_cannot_read_or_change(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    body = {"provider": "at_whatsapp", "at_username": "u", "at_api_key": "k",
            "at_wa_number": "+254709000000"}  # fmt: skip
    assert (await client.get(WA, headers=headers)).status_code == 403
    assert (await client.put(WA, headers=headers, json=body)).status_code == 403
    assert (await client.delete(WA, headers=headers)).status_code == 403
    assert (await client.get(WA)).status_code == 401


async def test_email_sender_settings(client):
    tenant, headers = await make_user_headers(client)
    url = "/api/v1/email/settings"
    assert (await client.get(url, headers=headers)).json()["sends_with"] == "platform"
    own = {
        "from_address": "noc@kwetu.example", "from_name": "Kwetu", "smtp_port": 587,
        "smtp_host": "smtp.kwetu.example", "smtp_username": "noc",
        "smtp_password": "pw-" + secrets.token_hex(6),
    }  # fmt: skip
    saved = await client.put(url, headers=headers, json=own)
    assert saved.status_code == 200 and saved.json()["has_smtp_password"]
    assert own["smtp_password"] not in saved.text
    [row_] = await sql("SELECT smtp_password_enc FROM email_settings WHERE tenant_id = :t",
                       t=tenant.id)  # fmt: skip
    assert crypto.decrypt(row_["smtp_password_enc"]) == own["smtp_password"]
    kept = await client.put(url, headers=headers, json={k: v for k, v in own.items()
                                                         if k != "smtp_password"})  # fmt: skip
    assert kept.json()["has_smtp_password"]
    for bad in ({"from_address": "nope", "from_name": "x"},
                {"from_address": "a@b.example", "from_name": "two\nlines"},
                {"from_address": "a@b.example", "from_name": "x", "smtp_host": "h"},
                {"from_address": "a@b.example", "from_name": "x", "smtp_username": "u"},
                {"from_address": "a@b.example", "from_name": "x", "smtp_tls": "ssl3"},
                {"from_address": "a@b.example", "from_name": "x", "smtp_host": "h; rm",
                 "smtp_port": 25}):  # fmt: skip
        response = await client.put(url, headers=headers, json=bad)
        assert response.status_code == 422 and response.json()["detail"], bad
    assert (await client.delete(url, headers=headers)).json()["sends_with"] == "platform"
    assert (await client.delete(url, headers=headers)).status_code == 404


# ------------------------------------------------------------------ the CLI and rotation


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "api.cli", *args]
    return subprocess.run(command, env=os.environ | (env or {}), capture_output=True, text=True,
                          timeout=60)  # fmt: skip


async def test_the_cli_sets_accounts_with_secrets_from_the_environment():
    tenant = await make_tenant()
    missing = await asyncio.to_thread(
        _cli, "whatsapp", "account", "--tenant", tenant.slug, "--provider", "meta",
        "--meta-phone-number-id", "100000000000001", "--meta-template", "mnetifi_notice",
    )  # fmt: skip
    assert missing.returncode == 1 and "meta_access_token" in missing.stderr + missing.stdout
    secrets_env = {"META_ACCESS_TOKEN": "demo-meta-access-token", "META_APP_SECRET": "s3cr3t-x",
                   "META_VERIFY_TOKEN": "v3r1fy-x"}  # fmt: skip
    saved = await asyncio.to_thread(
        _cli, "whatsapp", "account", "--tenant", tenant.slug, "--provider", "meta",
        "--meta-phone-number-id", "100000000000001", "--meta-template", "mnetifi_notice",
        env=secrets_env,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "has_meta_app_secret: True" in saved.stdout
    assert not any(v in saved.stdout + saved.stderr for v in secrets_env.values())
    to = phone()
    assert (await row(await enqueue(tenant.id, "whatsapp", to)))["provider"] == "meta"
    sender = await asyncio.to_thread(
        _cli, "email", "sender", "--tenant", tenant.slug, "--from-address", "noc@cli.example",
        "--from-name", "CLI ISP",
    )  # fmt: skip
    assert sender.returncode == 0 and "sends_with: isp" in sender.stdout, sender.stderr


async def test_secrets_rotate_covers_whatsapp_and_email_secrets(client):
    tenant, headers, account = await meta_isp(client)
    own = {"from_address": "noc@rot.example", "from_name": "Rot", "smtp_host": "smtp.rot.example",
           "smtp_port": 587, "smtp_username": "u", "smtp_password": "pw-rotate-me"}  # fmt: skip
    assert (await client.put("/api/v1/email/settings", headers=headers, json=own)).is_success
    query = ("SELECT w.meta_app_secret_enc, e.smtp_password_enc FROM whatsapp_settings w "
             "JOIN email_settings e USING (tenant_id) WHERE w.tenant_id = :t")  # fmt: skip
    [before] = await sql(query, t=tenant.id)
    current = crypto.derived_key(os.environ["MNETIFI_SECRET_KEY"]).decode()
    new_key = Fernet.generate_key().decode()
    rotated = await asyncio.to_thread(
        _cli, "secrets", "rotate", env={"MNETIFI_ENCRYPTION_KEYS": f"{new_key},{current}"}
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "WhatsApp account(s)" in rotated.stdout and "e-mail sender(s)" in rotated.stdout
    [after] = await sql(query, t=tenant.id)
    fernet = Fernet(new_key.encode())
    assert (
        fernet.decrypt(after["meta_app_secret_enc"].encode()).decode() == account["meta_app_secret"]
    )
    assert fernet.decrypt(after["smtp_password_enc"].encode()).decode() == "pw-rotate-me"
    assert after["meta_app_secret_enc"] != before["meta_app_secret_enc"]
    back = await asyncio.to_thread(
        _cli, "secrets", "rotate", env={"MNETIFI_ENCRYPTION_KEYS": f"{current},{new_key}"}
    )
    assert back.returncode == 0, back.stderr
    [restored] = await sql(query, t=tenant.id)
    assert crypto.decrypt(restored["smtp_password_enc"]) == "pw-rotate-me"


async def test_an_at_status_callback_updates_status_and_cost(client):
    tenant, _, account = await at_isp(client)
    await fake(atwa_url(), "POST", "/__fake__/config", json={"delay_ms": 4000})
    try:
        to = phone()
        message_id = await enqueue(tenant.id, "whatsapp", to)
    finally:
        await fake(atwa_url(), "POST", "/__fake__/config", json={"delay_ms": 300})
    sent = await row(message_id)
    assert (sent["status"], str(sent["cost"])) == ("sent", "0.5000")
    body = {"id": sent["provider_message_id"], "status": "Delivered", "phoneNumber": to,
            "cost": "KES 0.7000"}  # fmt: skip
    # Another ISP's URL cannot move it, though the id and number are right.
    _, _, other = await at_isp(client)
    foreign = await client.post(_path(other["at_callback_url"]), json=body | {"status": "Failed"})
    assert foreign.json() == {"applied": 0, "ignored": 1}
    assert (await row(message_id))["status"] == "sent"
    answer = await client.post(_path(account["at_callback_url"]), json=body)
    assert answer.json() == {"applied": 1, "ignored": 0}
    found = await row(message_id)
    assert (found["status"], str(found["cost"]), found["currency"]) == (
        "delivered",
        "0.7000",
        "KES",
    )
