"""An ISP's M-Pesa (Daraja) account. Secrets are stored encrypted (api/crypto.py) and are never
returned by the API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import INET, UUID
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
    # The secret in this ISP's callback URLs (api/payments/hooks.py), encrypted like the others.
    callback_token_enc: Mapped[str | None] = mapped_column(Text)
    c2b_api_version: Mapped[str] = mapped_column(Text, server_default="v2")
    c2b_registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


# The tables below are created by migrations/sql/0004_payments.up.sql, which holds their
# constraints (one receipt per ISP, one payment per STK request, one grant per payment).


class StkRequest(Base):
    """One STK push to a customer's phone, and what became of it."""

    __tablename__ = "stk_request"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), server_default=func.gen_random_uuid()
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="RESTRICT"))
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("voucher.id", ondelete="SET NULL"))
    phone: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(Integer)
    account_type: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text)
    merchant_request_id: Mapped[str | None] = mapped_column(Text)
    checkout_request_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    result_code: Mapped[str | None] = mapped_column(Text)
    result_desc: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    client_mac: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(INET)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    query_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_query_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    query_result_code: Mapped[str | None] = mapped_column(Text)


class Payment(Base):
    """Money that reached the ISP: one row per M-Pesa receipt."""

    __tablename__ = "payment"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    stk_request_id: Mapped[int | None] = mapped_column(ForeignKey("stk_request.id"))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(Text, server_default="KES")
    phone: Mapped[str | None] = mapped_column(Text)
    account_reference: Mapped[str | None] = mapped_column(Text)
    shortcode: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentGrant(Base):
    """The access one payment bought: a new voucher or an extension of a live one."""

    __tablename__ = "payment_grant"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment.id"))
    voucher_id: Mapped[int] = mapped_column(ForeignKey("voucher.id"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id"))
    kind: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    time_quota_seconds: Mapped[int | None] = mapped_column(BigInteger)
    data_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PaymentEvent(Base):
    """A callback or validation request as it arrived, with the verdict on it."""

    __tablename__ = "payment_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(INET)
    peer_ip: Mapped[str | None] = mapped_column(INET)
    forwarded_for: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    checkout_request_id: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text, server_default="received")
    reason: Mapped[str | None] = mapped_column(Text)
    stk_request_id: Mapped[int | None] = mapped_column(ForeignKey("stk_request.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
