"""/api/v1/payments/settings: an ISP's M-Pesa account; secrets encrypted at rest, never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from api import crypto
from api.models import AuditEvent
from tests.factories import count, make_user_headers
from tests.radius.conftest import sql

URL = "/api/v1/payments/settings"
ROOT = Path(__file__).resolve().parent.parent
SECRETS = {
    "consumer_key": "ck-Zq81plainKEY",
    "consumer_secret": "cs-Yt55plainSECRET",
    "passkey": "pk-bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919",
}
PAYBILL = {"environment": "sandbox", "account_type": "paybill", "shortcode": "174379"} | SECRETS
TILL = {
    "environment": "production",
    "account_type": "till",
    "shortcode": "7654321",
    "till_number": "123456",
}


async def _stored(tenant_id: int) -> dict | None:
    rows = await sql("SELECT * FROM payment_settings WHERE tenant_id = :t", t=tenant_id)
    return dict(rows[0]) if rows else None


async def test_secrets_are_write_only_and_encrypted_at_rest(client):
    tenant, headers = await make_user_headers(client)
    assert (await client.get(URL, headers=headers)).status_code == 404

    response = await client.put(URL, headers=headers, json=PAYBILL)
    assert response.status_code == 200, response.text
    for body in (response.json(), (await client.get(URL, headers=headers)).json()):
        assert body["shortcode"] == "174379" and body["currency"] == "KES"
        assert body["has_consumer_key"] and body["has_passkey"]
        assert not body["has_initiator_password"]
        assert not any(value in json.dumps(body) for value in SECRETS.values())

    row = await _stored(tenant.id)
    stored = json.dumps(row, default=str)
    assert not any(value in stored for value in SECRETS.values())
    assert crypto.decrypt(row["passkey_enc"]) == SECRETS["passkey"]
    assert crypto.decrypt(row["consumer_secret_enc"]) == SECRETS["consumer_secret"]

    events = await sql(
        "SELECT action, details FROM audit_event WHERE tenant_id = :t AND action LIKE 'payments%'",
        t=tenant.id,
    )
    assert [e["action"] for e in events] == ["payments.settings.create"]
    assert not any(value in json.dumps(events[0]["details"]) for value in SECRETS.values())


async def test_switching_to_a_till_keeps_secrets_not_sent_again(client):
    tenant, headers = await make_user_headers(client)
    await client.put(URL, headers=headers, json=PAYBILL)
    before = await _stored(tenant.id)

    response = await client.put(URL, headers=headers, json=TILL)
    assert response.status_code == 200, response.text
    assert response.json()["till_number"] == "123456"
    after = await _stored(tenant.id)
    assert after["passkey_enc"] == before["passkey_enc"]
    assert (after["account_type"], after["shortcode"]) == ("till", "7654321")


@pytest.mark.parametrize(
    "body",
    [
        TILL | SECRETS | {"till_number": None},  # a till needs its number
        PAYBILL | {"till_number": "123456"},  # a paybill has none
        PAYBILL | {"shortcode": "17-4379"},
        PAYBILL | {"environment": "staging"},
        PAYBILL | {"currency": "ksh"},
        PAYBILL | {"passkey": ""},
        PAYBILL | {"unknown": 1},
    ],
)
async def test_invalid_input_is_422_and_nothing_stored(client, body):
    tenant, headers = await make_user_headers(client)
    response = await client.put(URL, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert await _stored(tenant.id) is None


async def test_first_save_needs_the_daraja_secrets(client):
    tenant, headers = await make_user_headers(client)
    response = await client.put(URL, headers=headers, json=TILL)
    assert response.status_code == 422
    assert "consumer_key" in response.json()["detail"]
    assert await _stored(tenant.id) is None


@pytest.mark.parametrize("role", ["tech", "support"])
async def test_other_roles_are_403(client, role):
    tenant, _ = await make_user_headers(client)
    _, headers = await make_user_headers(client, tenant=tenant, role=role)
    assert (await client.put(URL, headers=headers, json=PAYBILL)).status_code == 403
    assert (await client.get(URL, headers=headers)).status_code == 403
    assert await _stored(tenant.id) is None
    assert await count(AuditEvent, tenant_id=tenant.id, action="payments.settings.create") == 0


async def test_each_tenant_sees_and_changes_only_its_own(client):
    a, a_headers = await make_user_headers(client)
    b, b_headers = await make_user_headers(client)
    await client.put(URL, headers=a_headers, json=PAYBILL)
    assert (await client.get(URL, headers=b_headers)).status_code == 404
    await client.put(URL, headers=b_headers, json=TILL | SECRETS)
    assert (await _stored(a.id))["account_type"] == "paybill"
    assert (await _stored(b.id))["account_type"] == "till"


async def test_rotation_re_encrypts_under_the_new_key_and_old_key_can_go(client):
    tenant, headers = await make_user_headers(client)
    await client.put(URL, headers=headers, json=PAYBILL)
    old_token = (await _stored(tenant.id))["passkey_enc"]
    current = crypto.derived_key(os.environ["MNETIFI_SECRET_KEY"]).decode()
    new_key = Fernet.generate_key().decode()

    def cli(keys: str, *args: str) -> subprocess.CompletedProcess:
        env = os.environ | {"MNETIFI_ENCRYPTION_KEYS": keys}
        command = [sys.executable, "-m", "api.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    rotated = cli(f"{new_key},{current}", "secrets", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_token = (await _stored(tenant.id))["passkey_enc"]
    assert new_token != old_token
    assert Fernet(new_key.encode()).decrypt(new_token.encode()).decode() == SECRETS["passkey"]
    # The old key alone can no longer read it: it may be removed from the configuration.
    with pytest.raises(Exception):  # noqa: B017, PT011 (cryptography's InvalidToken)
        Fernet(current.encode()).decrypt(new_token.encode())

    # Rotation covers every ISP: put them all back under the key the rest of the run uses.
    back = cli(f"{current},{new_key}", "secrets", "rotate")
    assert back.returncode == 0, back.stderr
    assert crypto.decrypt((await _stored(tenant.id))["passkey_enc"]) == SECRETS["passkey"]


DEMO = PAYBILL | {"consumer_key": "demo-consumer-key", "consumer_secret": "demo-consumer-secret"}


async def test_test_connection_gets_a_token_from_daraja(client):
    tenant, headers = await make_user_headers(client)
    assert (await client.post(f"{URL}/test", headers=headers)).status_code == 404

    await client.put(URL, headers=headers, json=DEMO)
    response = await client.post(f"{URL}/test", headers=headers)
    assert response.status_code == 200, response.text
    assert await count(AuditEvent, tenant_id=tenant.id, action="payments.settings.test") == 1

    # A wrong secret is the ISP's input: a clear 422 with Daraja's reason, not a 500.
    await client.put(URL, headers=headers, json=DEMO | {"consumer_secret": "wrong"})
    response = await client.post(f"{URL}/test", headers=headers)
    assert response.status_code == 422
    assert "Daraja refused these credentials" in response.json()["detail"]


async def test_test_connection_needs_a_settings_writer(client):
    tenant, owner = await make_user_headers(client)
    await client.put(URL, headers=owner, json=DEMO)
    _, support = await make_user_headers(client, tenant=tenant, role="support")
    assert (await client.post(f"{URL}/test", headers=support)).status_code == 403


async def test_callback_tokens_are_random_hex_daraja_accepts_in_urls(client):
    """Daraja refuses URLs containing "sql", "exe", "cmd", "query"... in any case: hex cannot
    spell them. Distinct per ISP, encrypted at rest."""
    tokens = set()
    for _ in range(5):
        tenant, headers = await make_user_headers(client)
        assert (await client.put(URL, headers=headers, json=PAYBILL)).status_code == 200
        row = await _stored(tenant.id)
        token = crypto.decrypt(row["callback_token_enc"])
        assert len(token) == 64 and int(token, 16) >= 0 and token not in row["callback_token_enc"]
        tokens.add(token)
    assert len(tokens) == 5
