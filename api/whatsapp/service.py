"""An ISP's WhatsApp account (Africa's Talking's gateway now, Meta's Cloud API once Meta
approves it), and the providers' status callbacks.

Switching provider keeps the history: every message keeps the provider that carried it, both
providers' credentials may stay stored, and late status callbacks of either are still applied.

Callbacks come to /hooks/{tenant}/{token}/whatsapp/meta and .../whatsapp/at: the token is this
ISP's secret (encrypted like the Daraja one), so a URL names one ISP and only that ISP's messages
can move. Meta's are also signed (X-Hub-Signature-256 under the app secret): a forged or
missing signature is refused with 403 before the body is read for anything. Africa's Talking
signs nothing, so its report is believed only for a message id it gave us and the number we
sent to, as for SMS."""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, config, crypto
from api.db import unit_of_work
from api.errors import BadRequest, Forbidden, NotFound
from api.messaging import meta
from api.messaging import repository as outbox
from api.messaging.africastalking import parse_cost
from api.models import WhatsappSettings
from api.tenancy import Principal
from api.whatsapp.schemas import WhatsappSettingsIn, WhatsappSettingsOut

log = logging.getLogger(__name__)
SECRETS = ("at_api_key", "meta_access_token", "meta_app_secret", "meta_verify_token")
PLAIN = ("at_username", "at_wa_number", "meta_phone_number_id", "meta_template", "meta_language")
NEEDS = {
    "at_whatsapp": ("at_username", "at_api_key", "at_wa_number"),
    "meta": ("meta_phone_number_id", "meta_access_token", "meta_app_secret",
             "meta_verify_token", "meta_template"),
}  # fmt: skip
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_ID = re.compile(r"^[\w.=+/-]{1,200}$")


def hook_url(tenant_id: int, token: str, kind: str) -> str:
    base = config.get_settings().public_url.rstrip("/")
    return f"{base}/hooks/{tenant_id}/{token}/whatsapp/{kind}"


def _out(row: WhatsappSettings | None) -> WhatsappSettingsOut:
    token = crypto.decrypt(row.hook_token_enc) if row else None
    return WhatsappSettingsOut(
        provider=row.provider if row else None,
        at_username=row.at_username if row else None,
        at_wa_number=row.at_wa_number if row else None,
        has_at_api_key=bool(row and row.at_api_key_enc),
        meta_phone_number_id=row.meta_phone_number_id if row else None,
        meta_template=row.meta_template if row else None,
        meta_language=row.meta_language if row else None,
        has_meta_access_token=bool(row and row.meta_access_token_enc),
        has_meta_app_secret=bool(row and row.meta_app_secret_enc),
        has_meta_verify_token=bool(row and row.meta_verify_token_enc),
        meta_webhook_url=hook_url(row.tenant_id, token, "meta") if row and token else None,
        at_callback_url=hook_url(row.tenant_id, token, "at") if row and token else None,
    )


def _audited(row: WhatsappSettings | None) -> dict[str, Any]:
    """The account as the audit log compares it (secrets decrypted in memory only: the log
    stores whether each was set or changed, never its value)."""
    if row is None:
        return {}
    values: dict[str, Any] = {"provider": row.provider}
    values |= {name: getattr(row, name) for name in PLAIN}
    for name in SECRETS:
        stored = getattr(row, f"{name}_enc")
        values[name] = crypto.decrypt(stored) if stored else None
    return values


async def get_settings(session: AsyncSession, principal: Principal) -> WhatsappSettingsOut:
    return _out(await outbox.whatsapp_settings(session, principal.tenant_id))


async def save_settings(
    session: AsyncSession, principal: Principal, data: WhatsappSettingsIn, meta_: audit.Meta = None
) -> WhatsappSettingsOut:
    row = await outbox.whatsapp_settings(session, principal.tenant_id)
    created = row is None
    before = _audited(row)
    merged = before | {k: v for k, v in data.model_dump(exclude_unset=True).items() if k in PLAIN}
    merged["provider"] = data.provider
    for name in SECRETS:
        given = getattr(data, name)
        if given is not None:
            merged[name] = given.get_secret_value()
    missing = [name for name in NEEDS[data.provider] if not merged.get(name)]
    if missing:
        raise BadRequest(f"the {data.provider} provider needs {', '.join(missing)}")
    if row is None:
        row = WhatsappSettings(tenant_id=principal.tenant_id)
        row.hook_token_enc = crypto.encrypt(secrets.token_hex(32))
        session.add(row)
    row.provider = data.provider
    for name in PLAIN:
        setattr(row, name, merged.get(name))
    row.meta_language = merged.get("meta_language") or "en"
    for name in SECRETS:
        if getattr(data, name) is not None:
            setattr(row, f"{name}_enc", crypto.encrypt(merged[name]))
    await session.flush()
    action = "whatsapp.settings.create" if created else "whatsapp.settings.update"
    await audit.changed(
        session, principal, action, "tenant", principal.tenant_id, before, _audited(row), meta_
    )
    return _out(row)


async def delete_settings(
    session: AsyncSession, principal: Principal, meta_: audit.Meta = None
) -> WhatsappSettingsOut:
    """Forgets the account (its messages stay, with the provider that carried each)."""
    row = await outbox.whatsapp_settings(session, principal.tenant_id)
    if row is None:
        raise NotFound("This ISP has no WhatsApp account")
    before = _audited(row)
    await session.delete(row)
    await session.flush()
    await audit.changed(
        session, principal, "whatsapp.settings.delete", "tenant", principal.tenant_id, before,
        {}, meta_,
    )  # fmt: skip
    return _out(None)


async def rotate_secrets(session: AsyncSession) -> int:
    """Re-encrypts every ISP's WhatsApp secrets under the newest key; returns how many rows."""
    rows = await outbox.every_whatsapp_settings(session)
    for row in rows:
        for name in (*SECRETS, "hook_token"):
            stored = getattr(row, f"{name}_enc")
            if stored:
                setattr(row, f"{name}_enc", crypto.reencrypt(stored))
    await session.flush()
    return len(rows)


# ------------------------------------------------------------------ callbacks


async def _account(tenant_ref: str, token: str) -> WhatsappSettings:
    """The ISP whose URL this is; Forbidden when the URL's token is not its."""
    if not tenant_ref.isdigit() or len(tenant_ref) > 12:
        raise Forbidden("unknown callback URL")
    async with unit_of_work() as session:
        row = await outbox.whatsapp_settings(session, int(tenant_ref))
    if row is None or not hmac.compare_digest(crypto.decrypt(row.hook_token_enc), token):
        raise Forbidden("unknown callback URL")
    return row


async def meta_verify(tenant_ref: str, token: str, params: dict[str, str]) -> str:
    """Meta's webhook handshake: the challenge back when the verify token is this ISP's."""
    row = await _account(tenant_ref, token)
    given = params.get("hub.verify_token", "")
    stored = crypto.decrypt(row.meta_verify_token_enc) if row.meta_verify_token_enc else None
    if params.get("hub.mode") != "subscribe" or not stored:
        raise Forbidden("not a subscription this ISP expects")
    if not hmac.compare_digest(stored.encode(), given.encode()):
        raise Forbidden("the verify token is not this ISP's")
    challenge = params.get("hub.challenge", "")
    if not challenge or len(challenge) > 200 or not challenge.isprintable():
        raise BadRequest("hub.challenge is missing")
    return challenge


META_STATUSES = {"sent": "sent", "delivered": "delivered", "read": "delivered", "failed": "failed"}


def _meta_reports(data: Any) -> list[dict[str, Any]]:
    """Every status in a webhook body, checked; BadRequest saying what is wrong."""
    try:
        changes = [c for e in data["entry"] for c in e.get("changes", [])]
        statuses = [s for c in changes for s in (c.get("value") or {}).get("statuses", [])]
    except (KeyError, TypeError, AttributeError):
        raise BadRequest("a webhook is {object, entry: [{changes: [{value}]}]}") from None
    reports = []
    for item in statuses:
        if not isinstance(item, dict) or item.get("status") not in META_STATUSES:
            raise BadRequest(f"a status is one of {', '.join(META_STATUSES)}")
        wamid, recipient = str(item.get("id", "")), "+" + str(item.get("recipient_id", ""))
        if not _ID.match(wamid) or not _E164.match(recipient):
            raise BadRequest("a status names the message id and its recipient_id")
        ours = META_STATUSES[item["status"]]
        errors = item.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        reason = f"{first.get('code', '')}: {str(first.get('title', ''))[:200]}".strip(": ")
        reports.append({
            "provider": "meta", "message_id": wamid, "phone": recipient, "status": ours,
            "provider_status": item["status"],
            "error": f"failed: {reason or 'no reason given'}" if ours == "failed" else None,
        })  # fmt: skip
    return reports


async def meta_status(
    tenant_ref: str, token: str, raw: bytes, signature: str | None
) -> dict[str, int]:
    row = await _account(tenant_ref, token)
    secret = crypto.decrypt(row.meta_app_secret_enc) if row.meta_app_secret_enc else None
    if not secret or not meta.signature_ok(secret, raw, signature):
        log.warning("meta webhook for ISP %s refused: signature missing or wrong", row.tenant_id)
        raise Forbidden("the X-Hub-Signature-256 signature does not match this ISP's app secret")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("a webhook body is JSON") from None
    return await _apply(row.tenant_id, _meta_reports(data))


AT_STATUSES = {"Sent": "sent", "Queued": "sent", "Delivered": "delivered", "Read": "delivered",
               "Failed": "failed", "Rejected": "failed"}  # fmt: skip


async def at_status(tenant_ref: str, token: str, raw: bytes) -> dict[str, int]:
    row = await _account(tenant_ref, token)
    try:
        data = json.loads(raw)
        message_id, status = str(data["id"]), str(data["status"])
        phone = str(data["phoneNumber"]).replace(" ", "")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise BadRequest("a status callback is JSON with id, status and phoneNumber") from None
    phone = phone if phone.startswith("+") else "+" + phone
    if status not in AT_STATUSES:
        raise BadRequest(f"unknown status; one of {', '.join(AT_STATUSES)}")
    if not _ID.match(message_id) or not _E164.match(phone):
        raise BadRequest("a status callback names the message id and the phoneNumber")
    reason = str(data.get("failureReason") or "")[:100]
    cost, currency = parse_cost(data.get("cost") if isinstance(data.get("cost"), str) else None)
    ours = AT_STATUSES[status]
    report = {
        "provider": "at_whatsapp", "message_id": message_id, "phone": phone, "status": ours,
        "provider_status": status, "cost": cost, "currency": currency,
        "error": f"{status}: {reason or 'no reason given'}" if ours == "failed" else None,
    }  # fmt: skip
    return await _apply(row.tenant_id, [report])


async def _apply(tenant_id: int, reports: list[dict[str, Any]]) -> dict[str, int]:
    applied = 0
    async with unit_of_work() as session:
        for report in reports:
            applied += await outbox.apply_report(session, report, tenant_id) is not None
    log.info("whatsapp status for ISP %s: %s applied, %s ignored", tenant_id, applied,
             len(reports) - applied)  # fmt: skip
    return {"applied": applied, "ignored": len(reports) - applied}
