"""Notifications: a fact that someone should be told about (a voucher crossed its usage
threshold, ...), decided in the same transaction as the fact, once per unique key. The worker
turns each into messages on the ISP's channels (api/notifications/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt


class Notification(CreatedAt, Base):
    """`key` is unique: one fact (voucher 7 crossed 90% of its 1 GiB) is one row, however often
    the packet that revealed it arrives. new -> done (its messages decided) or skipped (nobody to
    tell, or the ISP turned the event off), with why in `outcome`."""

    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint("event ~ '^[a-z][a-z0-9_.-]{0,39}$'", name="event"),
        CheckConstraint("status IN ('new', 'done', 'skipped')", name="status"),
        Index("ix_notification_new", "id", postgresql_where=text("status = 'new'")),
        Index("ix_notification_tenant_id_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text, unique=True)
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("voucher.id", ondelete="SET NULL"))
    # a subscriber's reminder or dunning (their phone is the recipient)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(Text, server_default="new")
    outcome: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Held until then (quiet hours, the ISP's rate): not claimed before.
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationRule(Base):
    """An ISP's choice for one event: on or off, on which channels, in its own words (None: the
    default wording, api/notifications/templates.py). No row: the event's defaults."""

    __tablename__ = "notification_rule"
    __table_args__ = (
        CheckConstraint("channels <@ ARRAY['sms', 'whatsapp', 'email']", name="channels"),
        CheckConstraint(
            "char_length(template_en) BETWEEN 1 AND 640"
            " AND char_length(template_sw) BETWEEN 1 AND 640",
            name="templates",
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    event: Mapped[str] = mapped_column(Text, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default="true")
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{sms}")
    template_en: Mapped[str | None] = mapped_column(Text)
    template_sw: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Outage(CreatedAt, Base):
    """Staff telling customers the network is down or under maintenance: at one router, or
    (router_id None) across the ISP; announced (its customers online are told once each) and
    shown on the captive portal until it ends."""

    __tablename__ = "outage"
    __table_args__ = (
        CheckConstraint("char_length(message) BETWEEN 5 AND 300", name="message"),
        CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="ends"),
        Index("ix_outage_tenant_id_starts_at", "tenant_id", "starts_at"),
        # A zone's outage (migration 0022): the routers of the zone and every zone below it.
        CheckConstraint("router_id IS NULL OR zone_id IS NULL", name="one_place"),
        ForeignKeyConstraint(
            ["tenant_id", "zone_id"], ["zone.tenant_id", "zone.id"], ondelete="CASCADE"
        ),
        Index("ix_outage_zone_id", "zone_id", postgresql_where=text("zone_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    router_id: Mapped[int | None] = mapped_column(ForeignKey("router.id", ondelete="CASCADE"))
    zone_id: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
