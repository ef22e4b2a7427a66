"""`mnetifi secrets rotate`: every ISP's stored secrets (its M-Pesa account's and its SMS API
key) re-encrypted under the newest of MNETIFI_ENCRYPTION_KEYS. Across ISPs on purpose, and so
listed in tests/test_layout.py's CROSS_TENANT; the rows are locked while they change."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, crypto
from api.models import PaymentSettings, SmsSettings
from api.payments.service import SECRETS


async def rotate_payment_secrets(session: AsyncSession) -> int:
    """Re-encrypts every stored M-Pesa secret under the newest key; returns how many rows."""
    rows = (await session.scalars(select(PaymentSettings).with_for_update())).all()
    for row in rows:
        for name in (*SECRETS, "callback_token"):
            token = getattr(row, f"{name}_enc")
            if token is not None:
                setattr(row, f"{name}_enc", crypto.reencrypt(token))
    await session.flush()
    await audit.record(
        session, "cli", "secrets.rotate", "payment_settings", None, {"rows": len(rows)}
    )
    return len(rows)


async def rotate_sms_secrets(session: AsyncSession) -> int:
    """Re-encrypts every ISP's SMS API key (and incoming-messages URL token) under the newest
    key; returns how many rows."""
    rows = (await session.scalars(select(SmsSettings).with_for_update())).all()
    for row in rows:
        row.api_key_enc = crypto.reencrypt(row.api_key_enc)
        if row.inbound_token_enc:
            row.inbound_token_enc = crypto.reencrypt(row.inbound_token_enc)
    await session.flush()
    return len(rows)
