"""Staff identity beyond the password: second factors, recovery codes, one-time links (invites,
password resets) and API tokens for integrations. Every secret here is stored hashed (links,
tokens, recovery codes) or encrypted (TOTP secrets), never as given."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt


class SecondFactor(Base):
    """A person's second factor: `method` is the one in use (None: none yet); `pending_*` is an
    enrolment or a switch in progress, which becomes the method once a code from it is proved."""

    __tablename__ = "second_factor"
    __table_args__ = (
        CheckConstraint("method IN ('totp', 'sms')", name="method"),
        CheckConstraint("pending_method IN ('totp', 'sms')", name="pending_method"),
    )

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    method: Mapped[str | None] = mapped_column(Text)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    # The last TOTP step accepted: a code of that step or an earlier one is refused (replay).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    phone: Mapped[str | None] = mapped_column(Text)  # E.164, for SMS codes
    pending_method: Mapped[str | None] = mapped_column(Text)
    pending_secret_enc: Mapped[str | None] = mapped_column(Text)
    pending_phone: Mapped[str | None] = mapped_column(Text)
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class RecoveryCode(Base):
    __tablename__ = "recovery_code"
    __table_args__ = (UniqueConstraint("staff_id", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffLink(CreatedAt, Base):
    """A one-time link: an invitation to join an ISP (with the role and routers it gives) or a
    password reset. Works once (`used_at`), until `expires_at`; only its hash is stored."""

    __tablename__ = "staff_link"
    __table_args__ = (
        CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),
        CheckConstraint("channel IN ('email', 'sms')", name="channel"),
        CheckConstraint("purpose = 'reset' OR role IS NOT NULL", name="invite_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    email: Mapped[str] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(Text)
    router_ids: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default="{}")
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(CreatedAt, Base):
    """A token for an integration: named, limited to chosen permissions (never more than its
    creator's role holds), shown once, stored as a SHA-256 hash (it is 256 random bits: a slow
    hash would add nothing), revocable, its last use kept."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(Text, unique=True)
    prefix: Mapped[str] = mapped_column(Text)  # the first characters, to tell tokens apart
    permissions: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
