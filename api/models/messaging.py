"""SMS: an ISP's Africa's Talking account (the API key encrypted like the Daraja secrets, never
returned by the API), and every message as an outbox row with its delivery status."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

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
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt

# Queued (decided, in the caller's transaction) -> sending (claimed by one sender) -> sent
# (Africa's Talking accepted it) -> delivered or failed (final). Only ever forward.
SMS_STATUSES = ("queued", "sending", "sent", "delivered", "failed")


class SmsSettings(Base):
    __tablename__ = "sms_settings"
    __table_args__ = (
        CheckConstraint("username ~ '^[A-Za-z0-9_.-]{1,64}$'", name="username"),
        CheckConstraint("sender_id ~ '^[A-Za-z0-9 ]{1,11}$'", name="sender_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(Text)
    api_key_enc: Mapped[str] = mapped_column(Text)
    # Alphanumeric sender id or shortcode; unset: Africa's Talking's default (AFRICASTKNG).
    sender_id: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class SmsMessage(CreatedAt, Base):
    """One SMS. `idempotency_key` is unique: one cause sends one message, however often it is
    asked for. tenant_id is NULL for the platform's own messages."""

    __tablename__ = "sms_message"
    __table_args__ = (
        CheckConstraint("recipient ~ '^\\+[1-9][0-9]{6,14}$'", name="recipient"),
        CheckConstraint("char_length(body) BETWEEN 1 AND 1600", name="body"),
        CheckConstraint("purpose ~ '^[a-z][a-z0-9_.-]{0,39}$'", name="purpose"),
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'delivered', 'failed')", name="status"
        ),
        CheckConstraint("account IN ('isp', 'platform')", name="account"),
        Index("uq_sms_message_idempotency_key", "idempotency_key", unique=True),
        Index("uq_sms_message_provider_message_id", "provider_message_id", unique=True),
        Index("ix_sms_message_tenant_id_created_at", "tenant_id", "created_at"),
        # The worker's sweep: messages whose after-commit send was lost, or that hang.
        Index(
            "ix_sms_message_unsent",
            "created_at",
            postgresql_where=text("status IN ('queued', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="queued")
    # Which account sent it: the ISP's own, or the platform's (decided when it is sent).
    account: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    provider_status: Mapped[str | None] = mapped_column(Text)  # AT's last word, e.g. Buffered
    status_code: Mapped[int | None] = mapped_column(Integer)  # AT's per-recipient statusCode
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 4))
    currency: Mapped[str | None] = mapped_column(Text)
    network_code: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    final_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
