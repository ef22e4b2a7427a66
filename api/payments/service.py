"""Reading and saving an ISP's M-Pesa account; secrets are encrypted before they are stored."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, config, crypto, outbound
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.models import PaymentSettings
from api.payments import daraja, repository
from api.payments.daraja import Account, DarajaError, TokenCache, base_url
from api.payments.schemas import PaymentSettingsIn, PaymentSettingsOut
from api.security import get_redis
from api.tenancy import Principal

SECRETS = ("consumer_key", "consumer_secret", "passkey", "initiator_password")
PLAIN = ("environment", "account_type", "shortcode", "till_number", "c2b_shortcode", "currency",
         "initiator_name")  # fmt: skip


def _out(row: PaymentSettings) -> PaymentSettingsOut:
    return PaymentSettingsOut(
        **{field: getattr(row, field) for field in PLAIN},
        **{f"has_{name}": getattr(row, f"{name}_enc") is not None for name in SECRETS},
    )


_get = repository.settings_row
CALLBACK_KINDS = ("stk", "c2b/validate", "c2b/confirm")


def callback_url(tenant_id: int, token_enc: str | None, kind: str) -> str:
    """Where Daraja posts this ISP's results. The path names no "mpesa" or "query" (Daraja
    refuses such URLs); the token is the ISP's secret, compared in constant time."""
    if token_enc is None:
        raise ValueError("this ISP has no callback token yet; save its M-Pesa settings")
    assert kind in CALLBACK_KINDS  # noqa: S101
    base = config.get_settings().public_url.rstrip("/")
    return f"{base}/hooks/{tenant_id}/{crypto.decrypt(token_enc)}/{kind}"


async def get_settings(session: AsyncSession, principal: Principal) -> PaymentSettingsOut:
    row = await _get(session, principal.tenant_id)
    if row is None:
        raise NotFound("M-Pesa is not set up yet")
    return _out(row)


async def save_settings(
    session: AsyncSession, principal: Principal, data: PaymentSettingsIn, meta: audit.Meta = None
) -> PaymentSettingsOut:
    row = await _get(session, principal.tenant_id)
    created = row is None
    before = {} if row is None else _audit_view(row)
    if row is None:
        missing = [n for n in SECRETS[:3] if getattr(data, n) is None]
        if missing:
            raise BadRequest(f"the first save needs {', '.join(missing)}")
        row = PaymentSettings(tenant_id=principal.tenant_id)
        session.add(row)
    # Hex: Daraja refuses URLs containing words like "sql", "exe", "cmd" or "query" (any case);
    # urlsafe base64 spells one of them in about 0.4% of tokens, hex never does.
    if row.callback_token_enc is None:
        row.callback_token_enc = crypto.encrypt(secrets.token_hex(32))
    for field in PLAIN:
        setattr(row, field, getattr(data, field))
    changed_secrets = []
    for name in SECRETS:
        value = getattr(data, name)
        if value is not None:
            setattr(row, f"{name}_enc", crypto.encrypt(value.get_secret_value()))
            changed_secrets.append(name)
    await session.flush()
    details = {field: getattr(data, field) for field in PLAIN} | {"secrets_set": changed_secrets}
    action = "payments.settings.create" if created else "payments.settings.update"
    await audit.changed(
        session,
        principal,
        action,
        "tenant",
        principal.tenant_id,
        before,
        _audit_view(row),
        meta,
        details=details,
    )
    return _out(row)


def _audit_view(row: PaymentSettings) -> dict[str, Any]:
    """The settings as the audit log compares them: plain fields, and the secrets decrypted in
    memory only so that re-sending the same one is no change (Fernet tokens differ each time).
    audit.changed() turns each secret into "set", "changed" or "cleared"."""
    secrets_ = {
        name: None if (token := getattr(row, f"{name}_enc")) is None else crypto.decrypt(token)
        for name in SECRETS
    }
    return {field: getattr(row, field) for field in PLAIN} | secrets_


def account(row: PaymentSettings) -> Account:
    """The decrypted account, in memory only."""
    return Account(
        environment=row.environment,  # type: ignore[arg-type]
        account_type=row.account_type,  # type: ignore[arg-type]
        shortcode=row.shortcode,
        till_number=row.till_number,
        consumer_key=crypto.decrypt(row.consumer_key_enc),
        consumer_secret=crypto.decrypt(row.consumer_secret_enc),
        passkey=crypto.decrypt(row.passkey_enc),
    )


async def test_connection(
    session: AsyncSession, principal: Principal, meta: audit.Meta = None
) -> dict[str, str]:
    """Gets an access token with the stored credentials (through the shared token cache, so it
    never invalidates a token other processes are using)."""
    row = await _get(session, principal.tenant_id)
    if row is None:
        raise NotFound("M-Pesa is not set up yet")
    url = base_url(row.environment, config.get_settings().daraja_url)
    http = outbound.client("daraja", daraja.TIMEOUT)  # kept: api/outbound.py
    try:
        await TokenCache(get_redis(), http, url).get(account(row))
    except DarajaError as exc:
        if exc.status is None or exc.status >= 500:
            raise ServiceUnavailable(f"Daraja did not answer: {exc}") from exc
        raise BadRequest(f"Daraja refused these credentials: {exc}") from exc
    await audit.record(
        session,
        principal,
        "payments.settings.test",
        "tenant",
        principal.tenant_id,
        {"ok": True},
        meta,
    )
    return {"status": "ok", "detail": "Daraja issued an access token for these credentials"}
