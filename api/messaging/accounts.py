"""Which account sends a message, decided when it is sent (not when it is queued):

- SMS: the ISP's own Africa's Talking account when it saved one, else the platform's
  (MNETIFI_AT_*); platform messages (tenant None) always the platform's.
- WhatsApp: the ISP's account on the provider it chose (Africa's Talking now, Meta once Meta has
  approved it); the platform has none, so a message without one fails with the reason.
- E-mail: the ISP's sender (From address and name) on its own SMTP server if it saved one, else
  on the platform's; without a sender of its own, the platform's sender (MNETIFI_SMTP_*).

Secrets are decrypted here, into objects whose repr hides them, and live in memory only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from api import config, crypto, mail
from api.messaging import africastalking, at_whatsapp, meta, repository
from api.models import EmailSettings, SmsSettings, WhatsappSettings


@dataclass(frozen=True)
class Mailer:
    server: mail.Server
    sender: mail.Sender


@dataclass(frozen=True)
class Chosen:
    """The account a message goes out on: its provider, whose it is, and the credentials."""

    provider: str
    kind: str  # "isp" or "platform"
    credentials: africastalking.Account | at_whatsapp.Account | meta.Account | Mailer


def platform_sms() -> africastalking.Account | None:
    settings = config.get_settings()
    if not settings.at_username or settings.at_api_key is None:
        return None
    key = settings.at_api_key.get_secret_value()
    return africastalking.Account(settings.at_username, key, settings.at_sender_id, "platform")


def isp_sms(row: SmsSettings) -> africastalking.Account:
    return africastalking.Account(
        row.username, crypto.decrypt(row.api_key_enc), row.sender_id, "isp"
    )


def isp_whatsapp(row: WhatsappSettings) -> at_whatsapp.Account | meta.Account:
    # The table's CHECKs (at_complete, meta_complete) guarantee the chosen provider's fields.
    if row.provider == "meta":
        assert row.meta_phone_number_id and row.meta_access_token_enc and row.meta_template
        token = crypto.decrypt(row.meta_access_token_enc)
        return meta.Account(row.meta_phone_number_id, token, row.meta_template, row.meta_language)
    assert row.at_username and row.at_api_key_enc and row.at_wa_number
    key = crypto.decrypt(row.at_api_key_enc)
    return at_whatsapp.Account(row.at_username, key, row.at_wa_number)


def isp_mailer(row: EmailSettings) -> Mailer:
    sender = mail.Sender(row.from_address, row.from_name)
    if row.smtp_host is None or row.smtp_port is None:
        return Mailer(mail.platform_server(), sender)
    password = crypto.decrypt(row.smtp_password_enc) if row.smtp_password_enc else None
    server = mail.Server(row.smtp_host, row.smtp_port, row.smtp_tls, row.smtp_username, password)
    return Mailer(server, sender)


async def choose(session: AsyncSession, tenant_id: int | None, channel: str) -> Chosen | None:
    """The account a message of this ISP (None: the platform) on this channel goes out on now;
    None when there is none."""
    if channel == "sms":
        row = await repository.sms_settings(session, tenant_id) if tenant_id else None
        if row is not None:
            return Chosen("africastalking", "isp", isp_sms(row))
        platform = platform_sms()
        return Chosen("africastalking", "platform", platform) if platform else None
    if channel == "whatsapp":
        wa = await repository.whatsapp_settings(session, tenant_id) if tenant_id else None
        return Chosen(wa.provider, "isp", isp_whatsapp(wa)) if wa else None
    sender = await repository.email_settings(session, tenant_id) if tenant_id else None
    if sender is not None:
        return Chosen("smtp", "isp", isp_mailer(sender))
    return Chosen("smtp", "platform", Mailer(mail.platform_server(), mail.platform_sender()))


NO_ACCOUNT = {
    "sms": "no SMS account: the ISP has none and the platform's is not configured",
    "whatsapp": "no WhatsApp account: the ISP has not set one up",
    "email": "no e-mail sender",
}
