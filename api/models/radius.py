"""FreeRADIUS's own tables, with FreeRADIUS's column names so its tooling still reads them, plus
`tenant_id`. Vouchers do not live here: FreeRADIUS reads them through radius_authorize()."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import INET
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, WrongGuesses


def _tenant_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))


class _AttrRow:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attribute: Mapped[str] = mapped_column(Text, server_default="")
    value: Mapped[str] = mapped_column(Text, server_default="")


class RadCheck(_AttrRow, Base):
    __tablename__ = "radcheck"
    __table_args__ = (Index("ix_radcheck_tenant_user", "tenant_id", "username", "attribute"),)
    tenant_id: Mapped[int] = _tenant_fk()
    username: Mapped[str] = mapped_column(Text, server_default="")
    op: Mapped[str] = mapped_column(String(2), server_default="==")


class RadReply(_AttrRow, Base):
    __tablename__ = "radreply"
    __table_args__ = (Index("ix_radreply_tenant_user", "tenant_id", "username", "attribute"),)
    tenant_id: Mapped[int] = _tenant_fk()
    username: Mapped[str] = mapped_column(Text, server_default="")
    op: Mapped[str] = mapped_column(String(2), server_default="=")


class RadGroupCheck(_AttrRow, Base):
    __tablename__ = "radgroupcheck"
    __table_args__ = (
        Index("ix_radgroupcheck_tenant_group", "tenant_id", "groupname", "attribute"),
    )
    tenant_id: Mapped[int] = _tenant_fk()
    groupname: Mapped[str] = mapped_column(Text, server_default="")
    op: Mapped[str] = mapped_column(String(2), server_default="==")


class RadGroupReply(_AttrRow, Base):
    __tablename__ = "radgroupreply"
    __table_args__ = (
        Index("ix_radgroupreply_tenant_group", "tenant_id", "groupname", "attribute"),
    )
    tenant_id: Mapped[int] = _tenant_fk()
    groupname: Mapped[str] = mapped_column(Text, server_default="")
    op: Mapped[str] = mapped_column(String(2), server_default="=")


class RadUserGroup(Base):
    __tablename__ = "radusergroup"
    __table_args__ = (Index("ix_radusergroup_tenant_user", "tenant_id", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = _tenant_fk()
    username: Mapped[str] = mapped_column(Text, server_default="")
    groupname: Mapped[str] = mapped_column(Text, server_default="")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")


class RadAcct(Base):
    """One row per session. Rows are closed, never deleted."""

    __tablename__ = "radacct"
    # Created by migrations/sql/ for FreeRADIUS's queries and our SQL functions.
    __table_args__ = (
        # open sessions of a voucher (device limit, CoA fan-out)
        Index(
            "ix_radacct_open_by_user",
            "tenant_id",
            "username",
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        # usage sums and the usage log of a voucher
        Index("ix_radacct_tenant_user_start", "tenant_id", "username", "acctstarttime"),
        # Accounting-On/Off closes one router's open sessions
        Index(
            "ix_radacct_open_by_nas",
            "nasipaddress",
            "acctstarttime",
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        # stale-session sweeper
        Index(
            "ix_radacct_open_by_update",
            "acctupdatetime",
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        # a voucher's usage, read by radius_authorize() in one index-only pass
        Index(
            "ix_radacct_voucher_sessions",
            "voucher_id",
            postgresql_include=[
                "acctsessiontime",
                "acctinputoctets",
                "acctoutputoctets",
                "acctstoptime",
                "acctupdatetime",
                "callingstationid",
            ],
            postgresql_where=text("voucher_id IS NOT NULL"),
        ),
        # a subscriber's sessions and usage (migration 0020)
        Index(
            "ix_radacct_subscriber_sessions",
            "subscriber_id",
            "acctstarttime",
            postgresql_include=["acctinputoctets", "acctoutputoctets", "acctstoptime"],
            postgresql_where=text("subscriber_id IS NOT NULL"),
        ),
        # a voucher's open sessions (a Start closes the same device's previous one)
        Index(
            "ix_radacct_open_by_voucher",
            "voucher_id",
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        Index(
            "ix_radacct_tenant_start",
            "tenant_id",
            text("acctstarttime DESC"),
            text("radacctid DESC"),
        ),
        # the sessions online, newest first (the sessions page)
        Index(
            "ix_radacct_open_by_tenant_start",
            "tenant_id",
            text("acctstarttime DESC"),
            text("radacctid DESC"),
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        # a router's live sessions, counted from the index alone (routers' health)
        Index(
            "ix_radacct_open_by_tenant_nas",
            "tenant_id",
            "nasipaddress",
            "acctupdatetime",
            postgresql_where=text("acctstoptime IS NULL"),
        ),
        # a router's last accounting packet, from the top (api/routers/repository.py)
        Index(
            "ix_radacct_tenant_nas_last",
            "tenant_id",
            "nasipaddress",
            text("GREATEST(acctstarttime, acctupdatetime) DESC NULLS LAST"),
        ),
    )
    radacctid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    acctsessionid: Mapped[str] = mapped_column(Text)
    acctuniqueid: Mapped[str] = mapped_column(Text, unique=True)
    username: Mapped[str | None] = mapped_column(Text)
    realm: Mapped[str | None] = mapped_column(Text)
    nasipaddress: Mapped[str] = mapped_column(INET)
    nasportid: Mapped[str | None] = mapped_column(Text)
    nasporttype: Mapped[str | None] = mapped_column(Text)
    acctstarttime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctupdatetime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctstoptime: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    acctinterval: Mapped[int | None] = mapped_column(BigInteger)
    acctsessiontime: Mapped[int | None] = mapped_column(BigInteger)
    acctauthentic: Mapped[str | None] = mapped_column(Text)
    connectinfo_start: Mapped[str | None] = mapped_column(Text)
    connectinfo_stop: Mapped[str | None] = mapped_column(Text)
    acctinputoctets: Mapped[int | None] = mapped_column(BigInteger)
    acctoutputoctets: Mapped[int | None] = mapped_column(BigInteger)
    calledstationid: Mapped[str | None] = mapped_column(Text)
    callingstationid: Mapped[str | None] = mapped_column(Text)
    acctterminatecause: Mapped[str | None] = mapped_column(Text)
    servicetype: Mapped[str | None] = mapped_column(Text)
    framedprotocol: Mapped[str | None] = mapped_column(Text)
    framedipaddress: Mapped[str | None] = mapped_column(INET)
    framedipv6address: Mapped[str | None] = mapped_column(INET)
    framedipv6prefix: Mapped[str | None] = mapped_column(INET)
    framedinterfaceid: Mapped[str | None] = mapped_column(Text)
    delegatedipv6prefix: Mapped[str | None] = mapped_column(INET)
    class_: Mapped[str | None] = mapped_column("class", Text)
    # The voucher this session used (NULL for non-voucher users); set by radius_accounting().
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("voucher.id", ondelete="SET NULL"))
    # The subscriber this session used (NULL for vouchers); set by radius_accounting().
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    # The rate a live session has now, as far as fair usage knows (NULL: not evaluated yet).
    applied_rate: Mapped[str | None] = mapped_column(Text)


class RadPostAuth(Base):
    """Every Access-Accept/Reject with its reason. No password column: voucher codes are
    credentials and must not be logged."""

    __tablename__ = "radpostauth"
    __table_args__ = (
        Index("ix_radpostauth_tenant_user_date", "tenant_id", "username", "authdate"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    calledstationid: Mapped[str | None] = mapped_column(Text)
    callingstationid: Mapped[str | None] = mapped_column(Text)
    nasipaddress: Mapped[str | None] = mapped_column(INET)
    authdate: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    class_: Mapped[str | None] = mapped_column("class", Text)


class AuthFailure(WrongGuesses, Base):
    """Wrong voucher codes per device (Calling-Station-Id) on one router; calling_station_id '*'
    is the router as a whole. Written by radius_post_auth(), read by radius_authorize()."""

    __tablename__ = "auth_failure"

    router_id: Mapped[int] = mapped_column(
        ForeignKey("router.id", ondelete="CASCADE"), primary_key=True
    )
    calling_station_id: Mapped[str] = mapped_column(Text, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
