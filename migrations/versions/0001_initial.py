"""Initial schema: tenants, staff, routers, plans, vouchers, audit log, the FreeRADIUS tables with
tenant_id, the `nas` view over routers and the two functions FreeRADIUS calls per login.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 14:19:12.708846
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.sql import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("acct_interim_interval", sa.Integer(), server_default="300", nullable=False),
        sa.Column("unused_voucher_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "slug ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'", name=op.f("ck_tenant_slug")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenant_slug")),
    )
    op.create_table(
        "plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("time_quota_seconds", sa.BigInteger(), nullable=True),
        sa.Column("data_quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("upload_kbps", sa.Integer(), nullable=False),
        sa.Column("download_kbps", sa.Integer(), nullable=False),
        sa.Column("device_limit", sa.Integer(), server_default="1", nullable=False),
        sa.Column("mac_binding", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "data_quota_bytes IS NULL OR data_quota_bytes > 0", name=op.f("ck_plan_data_quota")
        ),
        sa.CheckConstraint("device_limit BETWEEN 1 AND 100", name=op.f("ck_plan_device_limit")),
        sa.CheckConstraint("duration_seconds > 0", name=op.f("ck_plan_duration")),
        sa.CheckConstraint("price >= 0", name=op.f("ck_plan_price")),
        sa.CheckConstraint(
            "time_quota_seconds IS NULL OR time_quota_seconds > 0", name=op.f("ck_plan_time_quota")
        ),
        sa.CheckConstraint("upload_kbps > 0 AND download_kbps > 0", name=op.f("ck_plan_rates")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_plan_tenant_id_tenant"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_plan_tenant_id_name")),
    )
    op.create_index(op.f("ix_plan_tenant_id"), "plan", ["tenant_id"], unique=False)
    op.create_table(
        "radacct",
        sa.Column("radacctid", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("acctsessionid", sa.Text(), nullable=False),
        sa.Column("acctuniqueid", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=True),
        sa.Column("realm", sa.Text(), nullable=True),
        sa.Column("nasipaddress", postgresql.INET(), nullable=False),
        sa.Column("nasportid", sa.Text(), nullable=True),
        sa.Column("nasporttype", sa.Text(), nullable=True),
        sa.Column("acctstarttime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctupdatetime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctstoptime", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acctinterval", sa.BigInteger(), nullable=True),
        sa.Column("acctsessiontime", sa.BigInteger(), nullable=True),
        sa.Column("acctauthentic", sa.Text(), nullable=True),
        sa.Column("connectinfo_start", sa.Text(), nullable=True),
        sa.Column("connectinfo_stop", sa.Text(), nullable=True),
        sa.Column("acctinputoctets", sa.BigInteger(), nullable=True),
        sa.Column("acctoutputoctets", sa.BigInteger(), nullable=True),
        sa.Column("calledstationid", sa.Text(), nullable=True),
        sa.Column("callingstationid", sa.Text(), nullable=True),
        sa.Column("acctterminatecause", sa.Text(), nullable=True),
        sa.Column("servicetype", sa.Text(), nullable=True),
        sa.Column("framedprotocol", sa.Text(), nullable=True),
        sa.Column("framedipaddress", postgresql.INET(), nullable=True),
        sa.Column("framedipv6address", postgresql.INET(), nullable=True),
        sa.Column("framedipv6prefix", postgresql.INET(), nullable=True),
        sa.Column("framedinterfaceid", sa.Text(), nullable=True),
        sa.Column("delegatedipv6prefix", postgresql.INET(), nullable=True),
        sa.Column("class", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radacct_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("radacctid", name=op.f("pk_radacct")),
        sa.UniqueConstraint("acctuniqueid", name=op.f("uq_radacct_acctuniqueid")),
    )
    op.create_table(
        "radcheck",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), server_default="", nullable=False),
        sa.Column("op", sa.String(length=2), server_default="==", nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radcheck_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radcheck")),
    )
    op.create_table(
        "radgroupcheck",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("groupname", sa.Text(), server_default="", nullable=False),
        sa.Column("op", sa.String(length=2), server_default="==", nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radgroupcheck_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radgroupcheck")),
    )
    op.create_table(
        "radgroupreply",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("groupname", sa.Text(), server_default="", nullable=False),
        sa.Column("op", sa.String(length=2), server_default="=", nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radgroupreply_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radgroupreply")),
    )
    op.create_table(
        "radpostauth",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("calledstationid", sa.Text(), nullable=True),
        sa.Column("callingstationid", sa.Text(), nullable=True),
        sa.Column("nasipaddress", postgresql.INET(), nullable=True),
        sa.Column(
            "authdate", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("class", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radpostauth_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radpostauth")),
    )
    op.create_table(
        "radreply",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), server_default="", nullable=False),
        sa.Column("op", sa.String(length=2), server_default="=", nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.Text(), server_default="", nullable=False),
        sa.Column("value", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radreply_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radreply")),
    )
    op.create_table(
        "radusergroup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), server_default="", nullable=False),
        sa.Column("groupname", sa.Text(), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_radusergroup_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_radusergroup")),
    )
    op.create_table(
        "router",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("coa_port", sa.Integer(), server_default="3799", nullable=False),
        sa.Column("nas_identifier", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("coa_port BETWEEN 1 AND 65535", name=op.f("ck_router_coa_port")),
        sa.CheckConstraint(
            "length(secret) BETWEEN 16 AND 128", name=op.f("ck_router_secret_length")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_router_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_router")),
        sa.UniqueConstraint("ip_address", name=op.f("uq_router_ip_address")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_router_tenant_id_name")),
    )
    op.create_index(op.f("ix_router_tenant_id"), "router", ["tenant_id"], unique=False)
    op.create_table(
        "staff_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'tech', 'support')", name=op.f("ck_staff_user_role")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_staff_user_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_user")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_staff_user_tenant_id_email")),
    )
    op.create_index(op.f("ix_staff_user_tenant_id"), "staff_user", ["tenant_id"], unique=False)
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("object_type", sa.Text(), nullable=False),
        sa.Column("object_id", sa.Text(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("ip", postgresql.INET(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["staff_user.id"],
            name=op.f("fk_audit_event_actor_id_staff_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_audit_event_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index(op.f("ix_audit_event_tenant_id"), "audit_event", ["tenant_id"], unique=False)
    op.create_table(
        "voucher",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="unused", nullable=False),
        sa.Column("batch_id", sa.UUID(as_uuid=False), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("time_quota_seconds", sa.BigInteger(), nullable=True),
        sa.Column("data_quota_bytes", sa.BigInteger(), nullable=True),
        sa.Column("rate_limit", sa.Text(), nullable=False),
        sa.Column("device_limit", sa.Integer(), nullable=False),
        sa.Column("mac_binding", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "code ~ '^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6,8}$'", name=op.f("ck_voucher_code")
        ),
        sa.CheckConstraint(
            "status IN ('unused', 'active', 'revoked')", name=op.f("ck_voucher_status")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plan.id"], name=op.f("fk_voucher_plan_id_plan"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_voucher_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_voucher_tenant_id_code")),
    )
    op.create_index(
        "ix_voucher_tenant_id_issued_at",
        "voucher",
        ["tenant_id", sa.literal_column("issued_at DESC")],
        unique=False,
    )
    op.create_index(
        "ix_voucher_tenant_id_plan_id", "voucher", ["tenant_id", "plan_id"], unique=False
    )
    run_sql_file("0001_radius.up.sql")


def downgrade() -> None:
    run_sql_file("0001_radius.down.sql")
    op.drop_index("ix_voucher_tenant_id_plan_id", table_name="voucher")
    op.drop_index("ix_voucher_tenant_id_issued_at", table_name="voucher")
    op.drop_table("voucher")
    op.drop_index(op.f("ix_audit_event_tenant_id"), table_name="audit_event")
    op.drop_table("audit_event")
    op.drop_index(op.f("ix_staff_user_tenant_id"), table_name="staff_user")
    op.drop_table("staff_user")
    op.drop_index(op.f("ix_router_tenant_id"), table_name="router")
    op.drop_table("router")
    op.drop_table("radusergroup")
    op.drop_table("radreply")
    op.drop_table("radpostauth")
    op.drop_table("radgroupreply")
    op.drop_table("radgroupcheck")
    op.drop_table("radcheck")
    op.drop_table("radacct")
    op.drop_index(op.f("ix_plan_tenant_id"), table_name="plan")
    op.drop_table("plan")
    op.drop_table("tenant")
