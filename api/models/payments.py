"""An ISP's M-Pesa (Daraja) account. Secrets are stored encrypted (api/crypto.py) and are never
returned by the API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base


class PaymentSettings(Base):
    __tablename__ = "payment_settings"
    __table_args__ = (
        CheckConstraint("environment IN ('sandbox', 'production')", name="environment"),
        CheckConstraint("account_type IN ('paybill', 'till')", name="account_type"),
        CheckConstraint("(account_type = 'till') = (till_number IS NOT NULL)", name="till_number"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    environment: Mapped[str] = mapped_column(Text)
    account_type: Mapped[str] = mapped_column(Text)
    # Paybill: the paybill number. Till: the store number (BusinessShortCode of STK pushes).
    shortcode: Mapped[str] = mapped_column(Text)
    till_number: Mapped[str | None] = mapped_column(Text)
    c2b_shortcode: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text, server_default="KES")
    consumer_key_enc: Mapped[str] = mapped_column(Text)
    consumer_secret_enc: Mapped[str] = mapped_column(Text)
    passkey_enc: Mapped[str] = mapped_column(Text)
    initiator_name: Mapped[str | None] = mapped_column(Text)
    initiator_password_enc: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )
