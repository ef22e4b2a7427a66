"""Routers (the NASes), plans and vouchers: what FreeRADIUS reads on every packet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt


class Router(CreatedAt, Base):
    """A MikroTik router. FreeRADIUS knows it by the packet's source address and its own secret;
    the `nas` view exposes these rows to FreeRADIUS (one source of truth)."""

    __tablename__ = "router"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        # The target of staff_router's composite key: an allocation stays within one ISP.
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("coa_port BETWEEN 1 AND 65535", name="coa_port"),
        CheckConstraint("length(secret) BETWEEN 16 AND 128", name="secret_length"),
        # Its zone is one of its own ISP's (a tech allocated the zone sees the router).
        ForeignKeyConstraint(["tenant_id", "zone_id"], ["zone.tenant_id", "zone.id"]),
        Index("ix_router_zone_id", "zone_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    # Source address of its RADIUS packets; globally unique because it *is* the router's identity.
    ip_address: Mapped[str] = mapped_column(INET, unique=True)
    secret: Mapped[str] = mapped_column(Text)
    coa_port: Mapped[int] = mapped_column(Integer, server_default="3799")
    nas_identifier: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    zone_id: Mapped[int | None] = mapped_column(Integer)
    # Until when a wrong-code block may apply at this router: the latest blocked_until of its
    # auth_failure rows, kept by a trigger (migration 0023). Logins look at auth_failure only
    # before then, so a router nobody is guessing at costs no probe.
    auth_blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Plan(CreatedAt, Base):
    __tablename__ = "plan"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("duration_seconds > 0", name="duration"),
        CheckConstraint("data_quota_bytes IS NULL OR data_quota_bytes > 0", name="data_quota"),
        CheckConstraint("time_quota_seconds IS NULL OR time_quota_seconds > 0", name="time_quota"),
        CheckConstraint("upload_kbps > 0 AND download_kbps > 0", name="rates"),
        CheckConstraint("device_limit BETWEEN 1 AND 100", name="device_limit"),
        CheckConstraint("usage_warning_percent BETWEEN 0 AND 99", name="usage_warning_percent"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    price: Mapped[int] = mapped_column(Integer)  # smallest currency unit (KES has no cents in use)
    duration_seconds: Mapped[int] = mapped_column(Integer)  # validity from first use
    time_quota_seconds: Mapped[int | None] = mapped_column(BigInteger)
    data_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    upload_kbps: Mapped[int] = mapped_column(Integer)
    download_kbps: Mapped[int] = mapped_column(Integer)
    device_limit: Mapped[int] = mapped_column(Integer, server_default="1")
    mac_binding: Mapped[bool] = mapped_column(Boolean, server_default="false")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # Warn the customer at this % of a quota (0: never); unset: the ISP's usage_warning_percent.
    usage_warning_percent: Mapped[int | None] = mapped_column(Integer)


class Voucher(Base):
    """A voucher carries a snapshot of its plan's terms, so editing a plan never changes what a
    customer already bought, and FreeRADIUS reads one row per login."""

    __tablename__ = "voucher"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("status IN ('unused', 'active', 'revoked')", name="status"),
        CheckConstraint("code ~ '^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6,8}$'", name="code"),
        CheckConstraint("source IN ('batch', 'payment')", name="source"),
        Index("ix_voucher_tenant_id_plan_id", "tenant_id", "plan_id"),
        # the list, newest first; id breaks the tie within a batch (one issued_at)
        Index(
            "ix_voucher_tenant_id_issued_at", "tenant_id", text("issued_at DESC"), text("id DESC")
        ),
        # a customer's vouchers by their phone (the vouchers' search)
        Index(
            "ix_voucher_tenant_id_phone",
            "tenant_id",
            "phone",
            postgresql_where=text("phone IS NOT NULL"),
        ),
        # The expiry warning's sweep: sold vouchers (they have a phone) ending soon.
        Index(
            "ix_voucher_expires_at_sold", "expires_at", postgresql_where=text("phone IS NOT NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    plan_id: Mapped[int] = mapped_column(ForeignKey("plan.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="unused")
    batch_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False))
    duration_seconds: Mapped[int] = mapped_column(Integer)
    time_quota_seconds: Mapped[int | None] = mapped_column(BigInteger)
    data_quota_bytes: Mapped[int | None] = mapped_column(BigInteger)
    rate_limit: Mapped[str] = mapped_column(Text)  # Mikrotik-Rate-Limit, "rx/tx" = upload/download
    device_limit: Mapped[int] = mapped_column(Integer)
    mac_binding: Mapped[bool] = mapped_column(Boolean, server_default="false")
    issued_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    first_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "payment": sold through M-Pesa (its payment_grant says which payment); "batch": printed.
    source: Mapped[str] = mapped_column(Text, server_default="batch")
    phone: Mapped[str | None] = mapped_column(Text)  # the buyer's, for a sold voucher
    # The quota the customer was last warned at (voucher_usage_check, migration 0016): a bigger
    # quota after a repurchase is watched again.
    warned_data_quota: Mapped[int | None] = mapped_column(BigInteger)
    warned_time_quota: Mapped[int | None] = mapped_column(BigInteger)


class VoucherDevice(Base):
    """A device (Calling-Station-Id) that logged in with a voucher, recorded at its first
    Access-Accept. With mac_binding, only the first device_limit of them may ever use it."""

    __tablename__ = "voucher_device"

    voucher_id: Mapped[int] = mapped_column(
        ForeignKey("voucher.id", ondelete="CASCADE"), primary_key=True
    )
    mac: Mapped[str] = mapped_column(Text, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    router_id: Mapped[int | None] = mapped_column(ForeignKey("router.id", ondelete="SET NULL"))
    first_seen: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
