"""Control of live sessions: Disconnect/CoA requests to routers, and the fair usage policy
(migrations/sql/0006_session_control.up.sql, 0007_fair_usage.up.sql).

Created by raw SQL, so their primary and foreign keys carry PostgreSQL's default names
(`<table>_pkey`, `<table>_<column>_fkey`); the models name them so, not by the convention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base


class CoaRequest(Base):
    """One Disconnect-Request or CoA-Request for a session, retried until the router answers."""

    __tablename__ = "coa_request"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="coa_request_pkey"),
        CheckConstraint("kind IN ('disconnect', 'coa')", name="kind"),
        CheckConstraint(
            "reason IN ('admin', 'revoked', 'expired', 'extended', 'fair_usage', 'renewed',"
            " 'suspended', 'resumed')",
            name="reason",
        ),
        CheckConstraint("status IN ('pending', 'ack', 'nak', 'timeout')", name="status"),
        Index("ix_coa_request_tenant_id_created_at", "tenant_id", text("created_at DESC")),
        Index("ix_coa_request_router_id_created_at", "router_id", text("created_at DESC")),
        Index("ix_coa_request_radacct_id", "radacct_id"),
        Index(
            "ix_coa_request_subscriber_id",
            "subscriber_id",
            postgresql_where=text("subscriber_id IS NOT NULL"),
        ),
        # what the worker still has to send
        Index("ix_coa_request_due", "next_try_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="coa_request_tenant_id_fkey")
    )
    router_id: Mapped[int | None] = mapped_column(
        ForeignKey("router.id", ondelete="SET NULL", name="coa_request_router_id_fkey")
    )
    radacct_id: Mapped[int | None] = mapped_column(
        ForeignKey("radacct.radacctid", ondelete="SET NULL", name="coa_request_radacct_id_fkey")
    )
    voucher_id: Mapped[int | None] = mapped_column(
        ForeignKey("voucher.id", ondelete="SET NULL", name="coa_request_voucher_id_fkey")
    )
    # a subscriber's session moved in or out of the expired state, or suspended
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, server_default="pending")
    error_cause: Mapped[int | None] = mapped_column(Integer)  # RADIUS Error-Cause of a NAK
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    rounds: Mapped[int] = mapped_column(Integer, server_default="0")
    next_try_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    actor: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FairUsageRule(Base):
    """While the active users on a router (scope "router") or across the ISP ("isp") are above
    `threshold`, sessions of a plan (or every plan) get `rate_limit`."""

    __tablename__ = "fair_usage_rule"
    __table_args__ = (
        PrimaryKeyConstraint("id", name="fair_usage_rule_pkey"),
        CheckConstraint("scope IN ('router', 'isp')", name="scope"),
        CheckConstraint("threshold >= 0", name="threshold"),
        CheckConstraint("rate_limit ~ '^[0-9]+[kM]?/[0-9]+[kM]?$'", name="rate_limit"),
        Index("ix_fair_usage_rule_tenant_id", "tenant_id", postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="fair_usage_rule_tenant_id_fkey")
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE", name="fair_usage_rule_plan_id_fkey")
    )
    scope: Mapped[str] = mapped_column(Text)
    threshold: Mapped[int] = mapped_column(Integer)
    rate_limit: Mapped[str] = mapped_column(Text)  # Mikrotik-Rate-Limit, "rx/tx"
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class FairUsageState(Base):
    """A rule crossed right now, per router (router_id NULL: across the ISP). The worker keeps
    it; radius_authorize() gives new logins its rate.

    The table has no primary key, only a unique index over (rule_id, COALESCE(router_id, 0));
    the mapper's identity is (rule_id, router_id), which that index makes unique."""

    __tablename__ = "fair_usage_state"
    __table_args__ = (
        Index("uq_fair_usage_state", "rule_id", text("COALESCE(router_id, 0)"), unique=True),
        Index("ix_fair_usage_state_tenant_id", "tenant_id"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE", name="fair_usage_state_tenant_id_fkey")
    )
    rule_id: Mapped[int] = mapped_column(
        ForeignKey("fair_usage_rule.id", ondelete="CASCADE", name="fair_usage_state_rule_id_fkey")
    )
    router_id: Mapped[int | None] = mapped_column(
        ForeignKey("router.id", ondelete="CASCADE", name="fair_usage_state_router_id_fkey")
    )
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan.id", ondelete="CASCADE", name="fair_usage_state_plan_id_fkey")
    )
    threshold: Mapped[int] = mapped_column(Integer)
    rate_limit: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )

    __mapper_args__ = {"primary_key": [rule_id, router_id]}
