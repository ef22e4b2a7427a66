"""Messages to customers and staff: every channel's outbox (`message`: SMS, WhatsApp, e-mail,
one row per message with its delivery status), and each ISP's accounts on the providers (the
secrets encrypted like the Daraja ones, never returned by the API)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt

# Queued (decided, in the caller's transaction) -> sending (claimed by one sender) -> sent
# (the provider accepted it) -> delivered or failed (final). Only ever forward, except that a
# temporary refusal puts a sending message back to queued with its next attempt's time. An offer
# may instead be held (the ISP's quiet hours: queued again when they end) or skipped (final: its
# recipient opted out meanwhile, or reached the daily cap), never sent.
MESSAGE_STATUSES = ("queued", "held", "sending", "sent", "delivered", "failed", "skipped")
SMS_STATUSES = MESSAGE_STATUSES  # the name it had when SMS was the only channel
CHANNELS = ("sms", "whatsapp", "email")
# Who carried it: Africa's Talking SMS, Africa's Talking WhatsApp, Meta's WhatsApp Cloud API,
# an SMTP server. Kept per message, so an ISP switching WhatsApp provider keeps its history.
PROVIDERS = ("africastalking", "at_whatsapp", "meta", "smtp")
E164_SQL = "^\\+[1-9][0-9]{6,14}$"


class SmsSettings(Base):
    __tablename__ = "sms_settings"
    __table_args__ = (
        CheckConstraint("username ~ '^[A-Za-z0-9_.-]{1,64}$'", name="username"),
        CheckConstraint("sender_id ~ '^[A-Za-z0-9 ]{1,11}$'", name="sender_id"),
        CheckConstraint("shortcode ~ '^\\+?[0-9]{3,15}$'", name="shortcode"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(Text)
    api_key_enc: Mapped[str] = mapped_column(Text)
    # Alphanumeric sender id or shortcode; unset: Africa's Talking's default (AFRICASTKNG).
    sender_id: Mapped[str | None] = mapped_column(Text)
    # The shortcode or number customers text (STOP, ...): offers name it in their last line.
    shortcode: Mapped[str | None] = mapped_column(Text)
    # The secret in this ISP's incoming-messages URL (drawn at the first save).
    inbound_token_enc: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Message(CreatedAt, Base):
    """One message on one channel. `idempotency_key` is unique: one cause sends one message,
    however often it is asked for. tenant_id is NULL for the platform's own messages."""

    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("channel IN ('sms', 'whatsapp', 'email')", name="channel"),
        CheckConstraint(
            "provider IN ('africastalking', 'at_whatsapp', 'meta', 'smtp')", name="provider"
        ),
        CheckConstraint(
            f"(channel IN ('sms', 'whatsapp') AND recipient ~ '{E164_SQL}') OR (channel = "
            "'email' AND char_length(recipient) <= 254 AND recipient ~ '^[^@\\s]+@[^@\\s]+$')",
            name="recipient",
        ),
        CheckConstraint(
            "char_length(body) BETWEEN 1 AND CASE channel WHEN 'sms' THEN 1600 "
            "WHEN 'whatsapp' THEN 4096 ELSE 100000 END",
            name="body",
        ),
        CheckConstraint(
            "(channel = 'email') = (subject IS NOT NULL) AND char_length(subject) <= 200",
            name="subject",
        ),
        CheckConstraint(
            "template IS NULL OR (channel = 'whatsapp' AND char_length(template) <= 512 "
            "AND template ~ '^[a-z0-9_]+$')",
            name="template",
        ),
        CheckConstraint("purpose ~ '^[a-z][a-z0-9_.-]{0,39}$'", name="purpose"),
        CheckConstraint(
            "status IN ('queued', 'held', 'sending', 'sent', 'delivered', 'failed', 'skipped')",
            name="status",
        ),
        CheckConstraint("account IN ('isp', 'platform')", name="account"),
        CheckConstraint(
            "attempts >= 0 AND max_attempts BETWEEN 1 AND 20 AND attempts <= max_attempts",
            name="attempts",
        ),
        Index("uq_message_idempotency_key", "idempotency_key", unique=True),
        Index(
            "uq_message_provider_provider_message_id",
            "provider",
            "provider_message_id",
            unique=True,
        ),
        Index("ix_message_tenant_id_id", "tenant_id", "id"),
        # A broadcast's progress: its messages by status.
        Index(
            "ix_message_broadcast_id_status",
            "broadcast_id",
            "status",
            postgresql_where=text("broadcast_id IS NOT NULL"),
        ),
        # The worker's sweep: messages whose after-commit send was lost, retries that are due,
        # sends that hang.
        Index(
            "ix_message_unsent",
            "created_at",
            postgresql_where=text("status IN ('queued', 'held', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    # Decided when it is sent (the ISP's provider then), kept afterwards.
    provider: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)  # E.164 (sms, whatsapp) or an address (email)
    subject: Mapped[str | None] = mapped_column(Text)  # e-mail only
    body: Mapped[str] = mapped_column(Text)
    # An approved WhatsApp template and its body parameters (Meta's Cloud API sends only these
    # outside the 24-hour window); unset: the ISP's default template with the body as parameter.
    template: Mapped[str | None] = mapped_column(Text)
    template_params: Mapped[list[Any] | None] = mapped_column(JSONB)
    purpose: Mapped[str] = mapped_column(Text)
    # The offer this message is one of (its progress counts its messages).
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcast.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    # Which account sent it: the ISP's own, or the platform's (decided when it is sent).
    account: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="1")
    # When the sweep tries a queued message again (a temporary error); NULL: its first
    # attempt, made after commit, or by the sweep once that is overdue.
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    provider_status: Mapped[str | None] = mapped_column(Text)  # the provider's last word
    status_code: Mapped[int | None] = mapped_column(Integer)  # its code (AT statusCode, ...)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    currency: Mapped[str | None] = mapped_column(Text)
    network_code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


SmsMessage = Message  # the name it had when SMS was the only channel (branches still use it)


class WhatsappSettings(Base):
    """An ISP's WhatsApp account: Africa's Talking's gateway now, Meta's Cloud API once Meta
    approves the ISP. Both sets of credentials may be kept; `provider` says which one sends."""

    __tablename__ = "whatsapp_settings"
    __table_args__ = (
        CheckConstraint("provider IN ('at_whatsapp', 'meta')", name="provider"),
        CheckConstraint(
            "provider <> 'at_whatsapp' OR (at_username IS NOT NULL AND at_api_key_enc IS NOT "
            "NULL AND at_wa_number IS NOT NULL)",
            name="at_complete",
        ),
        CheckConstraint(
            "provider <> 'meta' OR (meta_phone_number_id IS NOT NULL AND meta_access_token_enc "
            "IS NOT NULL AND meta_app_secret_enc IS NOT NULL AND meta_verify_token_enc IS NOT "
            "NULL AND meta_template IS NOT NULL)",
            name="meta_complete",
        ),
        CheckConstraint("at_username ~ '^[A-Za-z0-9_.-]{1,64}$'", name="at_username"),
        CheckConstraint(f"at_wa_number ~ '{E164_SQL}'", name="at_wa_number"),
        CheckConstraint("meta_phone_number_id ~ '^[0-9]{1,32}$'", name="meta_phone_number_id"),
        CheckConstraint(
            "char_length(meta_template) <= 512 AND meta_template ~ '^[a-z0-9_]+$'",
            name="meta_template",
        ),
        CheckConstraint("meta_language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'", name="meta_language"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(Text)
    at_username: Mapped[str | None] = mapped_column(Text)
    at_api_key_enc: Mapped[str | None] = mapped_column(Text)
    at_wa_number: Mapped[str | None] = mapped_column(Text)  # the ISP's WhatsApp number on AT
    meta_phone_number_id: Mapped[str | None] = mapped_column(Text)
    meta_access_token_enc: Mapped[str | None] = mapped_column(Text)
    meta_app_secret_enc: Mapped[str | None] = mapped_column(Text)  # signs Meta's webhooks
    meta_verify_token_enc: Mapped[str | None] = mapped_column(Text)  # the GET handshake's
    meta_template: Mapped[str | None] = mapped_column(Text)  # default approved template
    meta_language: Mapped[str] = mapped_column(Text, server_default="en")
    # The secret in this ISP's status-callback URLs, like the Daraja hooks' token.
    hook_token_enc: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class EmailSettings(Base):
    """An ISP's e-mail sender: its From address and name, and optionally its own SMTP server
    (else the platform's, MNETIFI_SMTP_*)."""

    __tablename__ = "email_settings"
    __table_args__ = (
        CheckConstraint(
            "char_length(from_address) <= 254 AND from_address ~ '^[^@\\s]+@[^@\\s]+$'",
            name="from_address",
        ),
        CheckConstraint(
            "char_length(from_name) BETWEEN 1 AND 100 AND from_name !~ '[\\r\\n]'",
            name="from_name",
        ),
        CheckConstraint("smtp_tls IN ('starttls', 'tls', 'none')", name="smtp_tls"),
        CheckConstraint("smtp_port BETWEEN 1 AND 65535", name="smtp_port"),
        CheckConstraint(
            "(smtp_host IS NULL) = (smtp_port IS NULL) AND (smtp_host IS NOT NULL OR "
            "(smtp_username IS NULL AND smtp_password_enc IS NULL))",
            name="smtp_server",
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    from_address: Mapped[str] = mapped_column(Text)
    from_name: Mapped[str] = mapped_column(Text)
    smtp_host: Mapped[str | None] = mapped_column(Text)
    smtp_port: Mapped[int | None] = mapped_column(Integer)
    smtp_tls: Mapped[str] = mapped_column(Text, server_default="starttls")
    smtp_username: Mapped[str | None] = mapped_column(Text)
    smtp_password_enc: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
