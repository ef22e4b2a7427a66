"""Tenants (ISPs), their staff, and the audit log."""

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
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, CreatedAt


class Tenant(CreatedAt, Base):
    __tablename__ = "tenant"
    __table_args__ = (
        CheckConstraint("slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'", name="slug"),
        CheckConstraint("unused_voucher_days >= 1", name="unused_voucher_days"),
        CheckConstraint("acct_interim_interval BETWEEN 60 AND 3600", name="acct_interim_interval"),
        CheckConstraint(
            "guess_max_failures >= 1 AND router_guess_max_failures >= 1"
            " AND guess_window_seconds BETWEEN 60 AND 86400"
            " AND guess_block_seconds BETWEEN 10 AND 86400",
            name="guess_limits",
        ),
        CheckConstraint("usage_warning_percent BETWEEN 0 AND 99", name="usage_warning_percent"),
        CheckConstraint(
            "expiry_warning_minutes BETWEEN 0 AND 1440 AND message_daily_cap BETWEEN 1 AND 100"
            " AND (quiet_hours_from IS NULL) = (quiet_hours_to IS NULL)"
            " AND quiet_hours_from BETWEEN 0 AND 23 AND quiet_hours_to BETWEEN 0 AND 23"
            r" AND message_prefixes ~ '^\+[1-9][0-9]{0,5}(,\+[1-9][0-9]{0,5}){0,9}$'",
            name="messages",
        ),
        CheckConstraint(
            "message_rate_per_minute BETWEEN 1 AND 60000", name="message_rate_per_minute"
        ),
        CheckConstraint(
            "subscriber_grace_days BETWEEN 0 AND 60"
            " AND subscriber_pool ~ '^[A-Za-z0-9._-]{1,64}$'"
            " AND expired_pool ~ '^[A-Za-z0-9._-]{1,64}$'"
            " AND expired_address_list ~ '^[A-Za-z0-9._-]{1,64}$'",
            name="subscribers",
        ),
        CheckConstraint(
            "subscriber_reminder_days BETWEEN 0 AND 30"
            " AND subscriber_dunning_days ~ '^([1-9][0-9]?(,[1-9][0-9]?){0,9})?$'",
            name="subscriber_billing",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    # Interim-update interval sent to routers; the device limit's staleness window derives from it.
    acct_interim_interval: Mapped[int] = mapped_column(Integer, server_default="300")
    # An unused voucher stops being valid this many days after issue.
    unused_voucher_days: Mapped[int] = mapped_column(Integer, server_default="30")
    # Wrong voucher codes (decided in radius_authorize/radius_post_auth, migration 0008): a device
    # is blocked after guess_max_failures within guess_window_seconds on one router, for
    # guess_block_seconds doubled per further block; router_guess_max_failures on one router
    # within the window puts that router under attack.
    guess_max_failures: Mapped[int] = mapped_column(Integer, server_default="5")
    guess_window_seconds: Mapped[int] = mapped_column(Integer, server_default="900")
    guess_block_seconds: Mapped[int] = mapped_column(Integer, server_default="300")
    router_guess_max_failures: Mapped[int] = mapped_column(Integer, server_default="30")
    # Every staff member must use a second factor (TOTP or SMS); until enrolled they can only enrol.
    require_second_factor: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Customers are told when a voucher crosses this % of its data or time quota (0: never);
    # a plan may set its own (plan.usage_warning_percent). Decided in accounting (0016).
    usage_warning_percent: Mapped[int] = mapped_column(Integer, server_default="90")
    # Customers are told this many minutes before a sold voucher ends (0: never).
    expiry_warning_minutes: Mapped[int] = mapped_column(Integer, server_default="30")
    # Promotions wait out these hours, East Africa Time (from 21 to 7: overnight); unset: none.
    quiet_hours_from: Mapped[int | None] = mapped_column(Integer)
    quiet_hours_to: Mapped[int | None] = mapped_column(Integer)
    # At most this many messages to one recipient a day, and only to these country prefixes
    # ("+254,+256"): what keeps SMS pumping off the ISP's balance.
    message_daily_cap: Mapped[int] = mapped_column(Integer, server_default="5")
    message_prefixes: Mapped[str] = mapped_column(Text, server_default="+254")
    # At most this many messages a minute on each channel (one-time codes apart): a burst waits
    # its turn instead of draining the balance at once (api/messaging/pacing.py).
    message_rate_per_minute: Mapped[int] = mapped_column(Integer, server_default="600")
    # Subscribers (migration 0020): days after the due date before the expired pool; the
    # router's pool for subscribers without a fixed IP; the expired pool and address list.
    subscriber_grace_days: Mapped[int] = mapped_column(Integer, server_default="0")
    subscriber_pool: Mapped[str] = mapped_column(Text, server_default="pppoe")
    expired_pool: Mapped[str] = mapped_column(Text, server_default="expired")
    expired_address_list: Mapped[str] = mapped_column(Text, server_default="expired")
    # Billing (migration 0021): a reminder this many days before the due date (0: none), dunning
    # on these days after it ("1,3,7"; empty: none), with an STK push to the subscriber's phone.
    subscriber_reminder_days: Mapped[int] = mapped_column(Integer, server_default="3")
    subscriber_dunning_days: Mapped[str] = mapped_column(Text, server_default="1,3,7")
    subscriber_dunning_stk: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # How many fair-usage rules are crossed now (rows of fair_usage_state), kept by a trigger
    # (migration 0023): FreeRADIUS looks the crossed rules up only while this is above 0.
    fair_usage_states: Mapped[int] = mapped_column(Integer, server_default="0")


class StaffUser(CreatedAt, Base):
    __tablename__ = "staff_user"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        # The target of staff_router's composite key: an allocation stays within one ISP.
        UniqueConstraint("tenant_id", "id"),
        CheckConstraint("role IN ('owner', 'admin', 'tech', 'support')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffRouter(Base):
    """A router allocated to a staff member (a tech sees only these, api.tenancy.router_scope).
    Both keys include tenant_id, so the database refuses allocating another ISP's router."""

    __tablename__ = "staff_router"
    __table_args__ = (
        UniqueConstraint("staff_id", "router_id"),
        ForeignKeyConstraint(
            ["tenant_id", "staff_id"], ["staff_user.tenant_id", "staff_user.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "router_id"], ["router.tenant_id", "router.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(Integer)
    router_id: Mapped[int] = mapped_column(Integer, index=True)


class PlatformOperator(CreatedAt, Base):
    """A person who runs the platform itself (every ISP's host is outside their reach: no ISP
    permission in api.permissions), on the platform's own host."""

    __tablename__ = "platform_operator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(Text, unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # TOTP, always (api.platform.second_factor): on once a code from the pending secret is
    # proved; the last step used makes each code work once.
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    pending_secret_enc: Mapped[str | None] = mapped_column(Text)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OperatorRecoveryCode(Base):
    __tablename__ = "operator_recovery_code"
    __table_args__ = (UniqueConstraint("operator_id", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("platform_operator.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(Text)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only (a trigger refuses UPDATE, DELETE and TRUNCATE, migration 0010). No foreign
    keys: a deleted ISP's or staff member's history stays as it was recorded."""

    __tablename__ = "audit_event"
    __table_args__ = (
        # An ISP's log newest first (GET /api/v1/audit and the CSV's keyset batches).
        Index("ix_audit_event_tenant_id_id", "tenant_id", "id"),
        # An ISP's failed sign-ins of the last minutes, counted on each one (api/auth/alerts.py).
        Index(
            "ix_audit_event_failed_login",
            "tenant_id",
            "created_at",
            postgresql_where=text("action IN ('auth.login_failed', 'auth.second_factor_failed')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(Text)  # email, or "cli" for operator commands
    action: Mapped[str] = mapped_column(Text)
    object_type: Mapped[str] = mapped_column(Text)
    object_id: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # {field: {"before": x, "after": y}} for the fields that changed; secrets as "set"/"changed"/
    # "cleared", never their value (api.audit.changed).
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    ip: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
