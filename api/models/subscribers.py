"""Monthly subscribers (PPPoE or a fixed IP by DHCP-RADIUS), their plans, the ISP's zones (a
tree following the map of its area) and its IP pools. FreeRADIUS reads subscribers through
radius_authorize() (migrations/sql/0020_subscribers.up.sql), as it reads vouchers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, CIDR, INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt, WrongGuesses

_CENTRE = (
    "(latitude IS NULL) = (longitude IS NULL)"
    " AND latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180"
)


class Zone(CreatedAt, Base):
    """An area of the ISP (county, town, estate...), any depth. `path` is the ids from the root
    down to this zone, itself included, so "in zone Z or below" is `Z = ANY(path)` (GIN index)
    and a move is refused when the new parent's path holds the zone (a cycle)."""

    __tablename__ = "zone"
    __table_args__ = (
        UniqueConstraint("tenant_id", "id"),
        ForeignKeyConstraint(["tenant_id", "parent_id"], ["zone.tenant_id", "zone.id"]),
        Index("ix_zone_tenant_id_parent_id", "tenant_id", "parent_id"),
        Index("ix_zone_path", "path", postgresql_using="gin"),
        CheckConstraint(_CENTRE, name="centre"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name"),
        CheckConstraint("path[array_upper(path, 1)] = id", name="path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    # A GeoJSON Polygon (validated by the API: closed rings, sane coordinates, bounded size).
    outline: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    path: Mapped[list[int]] = mapped_column(ARRAY(Integer))


class StaffZone(Base):
    """A zone allocated to a staff member: a tech sees the routers and subscribers of the zone
    and every zone below it (api.tenancy.router_scope, subscriber_scope). Both keys include
    tenant_id, so the database refuses another ISP's zone."""

    __tablename__ = "staff_zone"
    __table_args__ = (
        UniqueConstraint("staff_id", "zone_id"),
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["staff_user.tenant_id", "staff_user.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "zone_id"], ["zone.tenant_id", "zone.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(Integer)
    zone_id: Mapped[int] = mapped_column(Integer, index=True)


class IpPool(CreatedAt, Base):
    """An IPv4 network the ISP hands out fixed addresses from (a static client's address must
    lie in one of them)."""

    __tablename__ = "ip_pool"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("family(cidr) = 4 AND masklen(cidr) BETWEEN 8 AND 32", name="cidr"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 64", name="name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    cidr: Mapped[str] = mapped_column(CIDR)


class SubscriberPlan(CreatedAt, Base):
    """A monthly plan. Not a row of `plan`: hotspot plans are sold by the portal, have a
    duration from first use, device limits and quotas per voucher; a monthly plan has none of
    those and must never show on the portal (see the commit that added it)."""

    __tablename__ = "subscriber_plan"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("upload_kbps > 0 AND download_kbps > 0", name="rates"),
        CheckConstraint(
            "(burst_upload_kbps IS NULL) = (burst_download_kbps IS NULL)"
            " AND (burst_upload_kbps IS NULL) = (burst_seconds IS NULL)"
            " AND burst_upload_kbps > upload_kbps AND burst_download_kbps > download_kbps"
            " AND burst_seconds BETWEEN 1 AND 3600",
            name="burst",
        ),
        CheckConstraint("data_cap_bytes IS NULL OR data_cap_bytes > 0", name="data_cap"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(Text)
    price: Mapped[int] = mapped_column(Integer)  # a month, smallest currency unit
    upload_kbps: Mapped[int] = mapped_column(Integer)
    download_kbps: Mapped[int] = mapped_column(Integer)
    burst_upload_kbps: Mapped[int | None] = mapped_column(Integer)
    burst_download_kbps: Mapped[int | None] = mapped_column(Integer)
    burst_seconds: Mapped[int | None] = mapped_column(Integer)
    data_cap_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Mikrotik-Rate-Limit, computed from the rates when the plan is saved (FreeRADIUS reads it).
    rate_limit: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")


class Subscriber(CreatedAt, Base):
    """A monthly customer: PPPoE (username and password on the router's PPPoE server) or static
    (a fixed address handed out by the router's DHCP server, which asks RADIUS with the MAC).
    The password is encrypted with a key the database never holds (api/subscribers/secrets.py)."""

    __tablename__ = "subscriber"
    __table_args__ = (
        # Unique inside the ISP whatever the case; the same name may exist at another ISP.
        Index(
            "uq_subscriber_tenant_id_username", "tenant_id", text("lower(username)"), unique=True
        ),
        UniqueConstraint("tenant_id", "ip_address"),
        UniqueConstraint("tenant_id", "mac"),
        ForeignKeyConstraint(["tenant_id", "zone_id"], ["zone.tenant_id", "zone.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "plan_id"], ["subscriber_plan.tenant_id", "subscriber_plan.id"]
        ),
        ForeignKeyConstraint(["tenant_id", "ip_pool_id"], ["ip_pool.tenant_id", "ip_pool.id"]),
        Index("ix_subscriber_tenant_id_id", "tenant_id", "id"),
        Index("ix_subscriber_zone_id", "zone_id"),
        Index("ix_subscriber_router_id", "router_id"),
        CheckConstraint("kind IN ('pppoe', 'static')", name="kind"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("username ~ '^[A-Za-z0-9.@_-]{3,64}$'", name="username"),
        CheckConstraint("mac ~ '^([0-9A-F]{2}:){5}[0-9A-F]{2}$'", name="mac"),
        CheckConstraint(
            "kind = 'pppoe' OR (ip_address IS NOT NULL AND mac IS NOT NULL)", name="static"
        ),
        CheckConstraint("(ip_address IS NULL) = (ip_pool_id IS NULL)", name="pool"),
        CheckConstraint(_CENTRE, name="location"),
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name"),
        CheckConstraint("balance >= 0", name="balance"),
        Index("ix_subscriber_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    # AES-256-CBC (IV first) under the RADIUS password key; see api/subscribers/secrets.py.
    encrypted_password: Mapped[bytes] = mapped_column(LargeBinary)
    name: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    zone_id: Mapped[int | None] = mapped_column(Integer)
    latitude: Mapped[float | None] = mapped_column(Double)
    longitude: Mapped[float | None] = mapped_column(Double)
    router_id: Mapped[int | None] = mapped_column(ForeignKey("router.id", ondelete="SET NULL"))
    plan_id: Mapped[int] = mapped_column(Integer)
    # Paid up to here; past it and the ISP's grace, the subscriber is in the expired pool.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Paid but not yet a whole month (smallest currency unit): renews when it reaches the price.
    balance: Mapped[int] = mapped_column(Integer, server_default="0")
    status: Mapped[str] = mapped_column(Text, server_default="active")
    ip_address: Mapped[str | None] = mapped_column(INET)
    ip_pool_id: Mapped[int | None] = mapped_column(Integer)
    # Upper-case with colons, as RouterOS's DHCP server sends it as User-Name.
    mac: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    # The latest block for wrong passwords (SubscriberAuthFailure), while it runs.
    login_blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SubscriberAuthFailure(WrongGuesses, Base):
    """Wrong PPPoE passwords of one account, in two buckets: its known device (the MAC of its
    latest session) and every other device, each blocked on its own, so a guesser elsewhere
    never locks the customer's own router out. Written by radius_password_failure(), read by
    radius_authorize_subscriber(); cleared by a new password or by staff (migration 0025)."""

    __tablename__ = "subscriber_auth_failure"

    subscriber_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subscriber.id", ondelete="CASCADE"), primary_key=True
    )
    known_device: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)


class SubscriberPayment(Base):
    """One payment credited to a subscriber: how much, how many months it renewed, the due date
    and balance before and after. `payment_id` is unique: a payment renews once, however often
    its confirmation arrives."""

    __tablename__ = "subscriber_payment"
    __table_args__ = (
        CheckConstraint(
            "amount > 0 AND months >= 0 AND balance_before >= 0 AND balance_after >= 0"
            " AND due_after >= due_before",
            name="amounts",
        ),
        Index("ix_subscriber_payment_subscriber", "tenant_id", "subscriber_id", text("id DESC")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payment.id", name="fk_subscriber_payment_payment_id_payment"), unique=True
    )
    receipt: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(Integer)
    months: Mapped[int] = mapped_column(Integer)
    balance_before: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    due_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class SubscriberExpiry(Base):
    """An expiry the worker acted on: the subscriber's live sessions were sent a Disconnect (the
    router logs them in again into the expired pool). Unique per subscriber and due date, so
    two sweeps, or two workers, act on one expiry once."""

    __tablename__ = "subscriber_expiry"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "due_at"),
        Index("ix_subscriber_expiry_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sessions: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
