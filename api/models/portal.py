"""The captive portal: an ISP's branding and its promo codes (migrations/sql/0005_portal.up.sql).

Created by raw SQL, so their primary and foreign keys carry PostgreSQL's default names
(`<table>_pkey`, `<table>_<column>_fkey`); the models name them so, not by the convention."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base


class PortalSettings(Base):
    """How an ISP's captive portal looks: name, colour, logo, support phone, language."""

    __tablename__ = "portal_settings"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", name="portal_settings_pkey"),
        CheckConstraint("primary_color ~ '^#[0-9a-fA-F]{6}$'", name="primary_color"),
        CheckConstraint("logo IS NULL OR octet_length(logo) <= 65536", name="logo"),
        CheckConstraint(
            "logo_type IS NULL OR logo_type IN ('image/png', 'image/jpeg', 'image/webp')",
            name="logo_type",
        ),
        CheckConstraint("language IN ('en', 'sw')", name="language"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="portal_settings_tenant_id_fkey"),
        primary_key=True,
    )
    display_name: Mapped[str | None] = mapped_column(Text)
    primary_color: Mapped[str] = mapped_column(Text, server_default="#0d6efd")
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(Text)  # the logo's MIME type
    support_phone: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(Text, server_default="en")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class PromoCode(Base):
    """A discount a customer types on the portal: a percentage or a fixed amount off one plan
    (or every plan), within an optional window and number of uses."""

    __tablename__ = "promo_code"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="promo_code_pkey"),
        UniqueConstraint("tenant_id", "code", name="uq_promo_code_tenant_id_code"),
        CheckConstraint("code ~ '^[A-Z0-9]{3,20}$'", name="code"),
        CheckConstraint("kind IN ('percent', 'fixed')", name="kind"),
        CheckConstraint("value > 0 AND (kind <> 'percent' OR value <= 100)", name="value"),
        CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="window"
        ),
        CheckConstraint("max_uses IS NULL OR max_uses > 0", name="max_uses"),
        CheckConstraint("uses >= 0", name="uses"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="promo_code_tenant_id_fkey")
    )
    code: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(Text)
    value: Mapped[int] = mapped_column(Integer)  # percent, or smallest currency unit off
    # NULL: every plan
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE", name="promo_code_plan_id_fkey")
    )
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
