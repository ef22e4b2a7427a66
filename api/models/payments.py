"""An ISP's M-Pesa (Daraja) account. Secrets are stored encrypted (api/crypto.py) and are never
returned by the API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
    text,
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
        CheckConstraint("c2b_api_version IN ('v1', 'v2')", name="c2b_api_version"),
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
    # The secret in this ISP's callback URLs (api/payments/events.py), encrypted like the others.
    callback_token_enc: Mapped[str | None] = mapped_column(Text)
    c2b_api_version: Mapped[str] = mapped_column(Text, server_default="v2")
    c2b_registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


# The tables below are created by migrations/sql/0004_payments.up.sql, which holds their
# constraints (one receipt per ISP, one payment per STK request, one grant per payment). Being raw
# SQL, their primary and foreign keys carry PostgreSQL's default names (`<table>_pkey`,
# `<table>_<column>_fkey`); the models name them so, not by the convention.


class StkRequest(Base):
    """One STK push to a customer's phone, and what became of it."""

    __tablename__ = "stk_request"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="stk_request_pkey"),
        UniqueConstraint("public_id", name="uq_stk_request_public_id"),
        UniqueConstraint(
            "tenant_id", "checkout_request_id", name="uq_stk_request_tenant_id_checkout_request_id"
        ),
        UniqueConstraint("tenant_id", "reference", name="uq_stk_request_tenant_id_reference"),
        CheckConstraint("phone ~ '^254[17][0-9]{8}$'", name="phone"),
        CheckConstraint("amount BETWEEN 1 AND 250000", name="amount"),
        CheckConstraint("account_type IN ('paybill', 'till')", name="account_type"),
        CheckConstraint("status IN ('pending', 'paid', 'failed')", name="status"),
        CheckConstraint("language IN ('en', 'sw')", name="language"),
        Index("ix_stk_request_tenant_id_created_at", "tenant_id", text("created_at DESC")),
        Index("ix_stk_request_tenant_id_phone", "tenant_id", "phone", text("created_at DESC")),
        # the pending requests the worker still has to query
        Index(
            "ix_stk_request_next_query_at",
            "next_query_at",
            postgresql_where=text("next_query_at IS NOT NULL"),
        ),
        Index(
            "ix_stk_request_promo_code_id",
            "promo_code_id",
            postgresql_where=text("promo_code_id IS NOT NULL"),
        ),
        Index(
            "ix_stk_request_subscriber_id",
            "subscriber_id",
            postgresql_where=text("subscriber_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    public_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), server_default=func.gen_random_uuid()
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="stk_request_tenant_id_fkey")
    )
    # a hotspot package; None for a subscriber's bill (subscriber_id)
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan.id", ondelete="RESTRICT", name="stk_request_plan_id_fkey")
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    # a repurchase names the voucher it extends
    voucher_id: Mapped[int | None] = mapped_column(
        ForeignKey("voucher.id", ondelete="SET NULL", name="stk_request_voucher_id_fkey")
    )
    phone: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(Integer)  # what the customer is asked to pay
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
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    query_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_query_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the last STK Query answer, kept even when it contradicts a paid callback (never revokes)
    query_result_code: Mapped[str | None] = mapped_column(Text)
    # What a purchase cost before its promo, and which promo it used (counted when it is paid).
    promo_code_id: Mapped[int | None] = mapped_column(
        ForeignKey("promo_code.id", ondelete="SET NULL", name="stk_request_promo_code_id_fkey")
    )
    list_price: Mapped[int | None] = mapped_column(Integer)
    # "Send me offers" ticked on the portal's pay form: the phone's consent is recorded when this
    # purchase is paid (the payer's PIN shows the phone is theirs), in the portal's language.
    offers_opt_in: Mapped[bool] = mapped_column(Boolean, server_default="false")
    language: Mapped[str | None] = mapped_column(Text)


class Payment(Base):
    """Money that reached the ISP: one row per M-Pesa receipt."""

    __tablename__ = "payment"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="payment_pkey"),
        UniqueConstraint("tenant_id", "receipt", name="uq_payment_tenant_id_receipt"),
        UniqueConstraint("stk_request_id", name="uq_payment_stk_request_id"),
        CheckConstraint("source IN ('stk', 'c2b')", name="source"),
        CheckConstraint("status IN ('granted', 'unclaimed', 'held')", name="status"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("receipt ~ '^[A-Z0-9]{6,20}$'", name="receipt"),
        CheckConstraint("receipt IS NOT NULL OR stk_request_id IS NOT NULL", name="identified"),
        Index("ix_payment_tenant_id_created_at", "tenant_id", text("created_at DESC")),
        # the payments page, newest first
        Index("ix_payment_tenant_id_id", "tenant_id", "id"),
        # money today and this month (the home page), summed from the index alone
        Index(
            "ix_payment_tenant_id_paid_at",
            "tenant_id",
            "paid_at",
            postgresql_include=["amount"],
        ),
        # a customer's payments by their phone (the vouchers' search)
        Index(
            "ix_payment_tenant_id_phone",
            "tenant_id",
            "phone",
            postgresql_where=text("phone IS NOT NULL"),
        ),
        # money waiting for staff to decide
        Index(
            "ix_payment_unresolved",
            "tenant_id",
            postgresql_where=text("status IN ('unclaimed', 'held')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="payment_tenant_id_fkey")
    )
    source: Mapped[str] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    stk_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("stk_request.id", name="payment_stk_request_id_fkey")
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(Text, server_default="KES")
    phone: Mapped[str | None] = mapped_column(Text)
    account_reference: Mapped[str | None] = mapped_column(Text)
    shortcode: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # granted: its access exists; unclaimed: a till payment waiting for its M-Pesa code on the
    # portal; held: paid but buys nothing we sell (wrong amount, unknown account): staff decide
    status: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PaymentGrant(Base):
    """The access one payment bought: a new voucher or an extension of a live one."""

    __tablename__ = "payment_grant"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="payment_grant_pkey"),
        UniqueConstraint("payment_id", name="uq_payment_grant_payment_id"),
        CheckConstraint("kind IN ('new', 'extend')", name="kind"),
        Index("ix_payment_grant_voucher_id", "voucher_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="payment_grant_tenant_id_fkey")
    )
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payment.id", name="payment_grant_payment_id_fkey")
    )
    voucher_id: Mapped[int] = mapped_column(
        ForeignKey("voucher.id", name="payment_grant_voucher_id_fkey")
    )
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", name="payment_grant_plan_id_fkey"))
    kind: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    time_quota_seconds: Mapped[int | None] = mapped_column(BigInteger)
    data_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PaymentEvent(Base):
    """A callback or validation request as it arrived, with the verdict on it."""

    __tablename__ = "payment_event"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="payment_event_pkey"),
        CheckConstraint(
            "kind IN ('stk_callback', 'c2b_validation', 'c2b_confirmation')", name="kind"
        ),
        CheckConstraint(
            "verdict IN ('received', 'ok', 'duplicate', 'forged', 'unknown', 'mismatch',"
            " 'malformed', 'rejected')",
            name="verdict",
        ),
        Index("ix_payment_event_tenant_id_received_at", "tenant_id", text("received_at DESC")),
        # callbacks that beat their push's commit are matched again once it lands
        Index(
            "ix_payment_event_unknown",
            "checkout_request_id",
            postgresql_where=text("verdict = 'unknown'"),
        ),
        # stored but never judged (the process died in between): the worker finishes them
        Index(
            "ix_payment_event_received",
            "received_at",
            postgresql_where=text("verdict = 'received'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="payment_event_tenant_id_fkey")
    )
    kind: Mapped[str] = mapped_column(Text)
    source_ip: Mapped[str | None] = mapped_column(INET)
    peer_ip: Mapped[str | None] = mapped_column(INET)
    forwarded_for: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    checkout_request_id: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(Text, server_default="received")
    reason: Mapped[str | None] = mapped_column(Text)
    stk_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("stk_request.id", ondelete="SET NULL", name="payment_event_stk_request_id_fkey")
    )
    payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payment.id", ondelete="SET NULL", name="payment_event_payment_id_fkey")
    )
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
