"""Offers to customers who asked for them: each ISP's consent per phone (ticked at a purchase,
withdrawn by texting STOP or by staff), the SMS customers send to the ISP (Africa's Talking's
incoming-message callback), and the broadcasts staff compose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt
from api.models.messaging import E164_SQL

CONSENT_SOURCES = ("purchase", "sms-stop", "staff")


class OfferConsent(Base):
    """One row per (ISP, phone): whether it may get offers (`status` in or out), when and how it
    opted in (a purchase with the box ticked: its id) and out (a STOP text: the inbound
    message's id; staff: who), and the language it bought in."""

    __tablename__ = "offer_consent"
    __table_args__ = (
        CheckConstraint(f"phone ~ '{E164_SQL}'", name="phone"),
        CheckConstraint("status IN ('in', 'out')", name="status"),
        CheckConstraint("language IN ('en', 'sw')", name="language"),
        CheckConstraint("opted_in_source IN ('purchase', 'staff')", name="opted_in_source"),
        CheckConstraint("opted_out_source IN ('sms-stop', 'staff')", name="opted_out_source"),
        CheckConstraint(
            "(status = 'in' AND opted_in_at IS NOT NULL) OR (status = 'out' AND opted_out_at "
            "IS NOT NULL)",
            name="when",
        ),
        # The broadcasts' expansion walks one ISP's consenting phones in order.
        Index("ix_offer_consent_tenant_id_status_phone", "tenant_id", "status", "phone"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(Text, primary_key=True)  # E.164
    status: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(Text)
    opted_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opted_in_source: Mapped[str | None] = mapped_column(Text)
    opted_in_ref: Mapped[str | None] = mapped_column(Text)  # the purchase's public id
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opted_out_source: Mapped[str | None] = mapped_column(Text)
    opted_out_ref: Mapped[str | None] = mapped_column(Text)  # the inbound SMS's id, or staff
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class InboundSms(CreatedAt, Base):
    """An SMS a customer sent to the ISP's number, as Africa's Talking's incoming-message
    callback brought it; recorded once per AT id (a replayed callback changes nothing)."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        CheckConstraint("char_length(provider_id) BETWEEN 1 AND 100", name="provider_id"),
        CheckConstraint(f"sender ~ '{E164_SQL}'", name="sender"),
        CheckConstraint("char_length(body) <= 1600", name="body"),
        CheckConstraint("action IN ('opt-out')", name="action"),
        Index("uq_inbound_sms_tenant_id_provider_id", "tenant_id", "provider_id", unique=True),
        Index("ix_inbound_sms_tenant_id_id", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(Text)  # AT's `id`
    sender: Mapped[str] = mapped_column(Text)  # AT's `from`
    to_number: Mapped[str] = mapped_column(Text)  # AT's `to`: the ISP's shortcode or number
    body: Mapped[str] = mapped_column(Text)  # AT's `text`
    link_id: Mapped[str | None] = mapped_column(Text)
    network_code: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[str | None] = mapped_column(Text)  # AT's `date`, as it came
    action: Mapped[str | None] = mapped_column(Text)  # what we did: opt-out, or nothing


class Broadcast(CreatedAt, Base):
    """An offer staff sent to every consenting phone. The worker expands it into messages in
    batches: `cursor` is the last phone decided, kept in each batch's transaction with its
    messages, so a second worker or a restart neither repeats nor skips anyone."""

    __tablename__ = "broadcast"
    __table_args__ = (
        CheckConstraint("char_length(body) BETWEEN 1 AND 300", name="body"),
        CheckConstraint(
            "cardinality(channels) >= 1 AND channels <@ ARRAY['sms', 'whatsapp']",
            name="channels",
        ),
        CheckConstraint("status IN ('expanding', 'done')", name="status"),
        CheckConstraint("audience >= 0", name="audience"),
        Index("ix_broadcast_tenant_id_id", "tenant_id", "id"),
        Index("ix_broadcast_expanding", "id", postgresql_where=text("status = 'expanding'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    channels: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # The number customers text STOP to, as the offer's last line named it.
    stop_to: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default="expanding")
    audience: Mapped[int] = mapped_column(Integer)  # recipients counted when it was sent
    cursor: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
