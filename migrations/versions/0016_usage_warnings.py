"""Notifications: usage warnings decided by accounting (the ISP's threshold,
tenant.usage_warning_percent, 90 by default, 0 off; plan.usage_warning_percent overrides it; the
quota each voucher was last warned at), the notifications the worker turns into messages, each
ISP's rules per event (on or off, channels, its own wording in English and Swahili), and its
limits (minutes before expiry to warn, quiet hours, messages per recipient per day, the country
prefixes it sends to); radius_accounting() now calls voucher_usage_check() on every interim and
stop of a voucher's session.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.sql import run_sql_file

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ACCOUNTING = (
    "radius_accounting(text, text, text, text, text, text, text, text, bigint, bigint, text, "
    "text, text, text, text, text, text, text, text, text, text)"
)


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("usage_warning_percent", sa.Integer(), server_default="90", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenant_usage_warning_percent"), "tenant",
        "usage_warning_percent BETWEEN 0 AND 99",
    )  # fmt: skip
    for column in (
        sa.Column("expiry_warning_minutes", sa.Integer(), server_default="30", nullable=False),
        sa.Column("quiet_hours_from", sa.Integer(), nullable=True),
        sa.Column("quiet_hours_to", sa.Integer(), nullable=True),
        sa.Column("message_daily_cap", sa.Integer(), server_default="5", nullable=False),
        sa.Column("message_prefixes", sa.Text(), server_default="+254", nullable=False),
    ):
        op.add_column("tenant", column)
    op.create_check_constraint(
        op.f("ck_tenant_messages"), "tenant",
        "expiry_warning_minutes BETWEEN 0 AND 1440 AND message_daily_cap BETWEEN 1 AND 100"
        " AND (quiet_hours_from IS NULL) = (quiet_hours_to IS NULL)"
        " AND quiet_hours_from BETWEEN 0 AND 23 AND quiet_hours_to BETWEEN 0 AND 23"
        r" AND message_prefixes ~ '^\+[1-9][0-9]{0,5}(,\+[1-9][0-9]{0,5}){0,9}$'",
    )  # fmt: skip
    op.create_table(
        "notification_rule",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.Text()), server_default="{sms}", nullable=False),
        sa.Column("template_en", sa.Text(), nullable=True),
        sa.Column("template_sw", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "channels <@ ARRAY['sms', 'whatsapp', 'email']",
            name=op.f("ck_notification_rule_channels"),
        ),
        sa.CheckConstraint(
            "char_length(template_en) BETWEEN 1 AND 640"
            " AND char_length(template_sw) BETWEEN 1 AND 640",
            name=op.f("ck_notification_rule_templates"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_notification_rule_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("tenant_id", "event", name=op.f("pk_notification_rule")),
    )
    op.create_table(
        "outage",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("router_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "starts_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "char_length(message) BETWEEN 5 AND 300", name=op.f("ck_outage_message")
        ),
        sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_outage_ends")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_outage_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["router_id"],
            ["router.id"],
            name=op.f("fk_outage_router_id_router"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outage")),
    )
    op.create_index(op.f("ix_outage_tenant_id_starts_at"), "outage", ["tenant_id", "starts_at"])
    op.add_column("plan", sa.Column("usage_warning_percent", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_plan_usage_warning_percent"), "plan", "usage_warning_percent BETWEEN 0 AND 99"
    )
    op.add_column("voucher", sa.Column("warned_data_quota", sa.BigInteger(), nullable=True))
    op.add_column("voucher", sa.Column("warned_time_quota", sa.BigInteger(), nullable=True))
    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("voucher_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("status", sa.Text(), server_default="new", nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "event ~ '^[a-z][a-z0-9_.-]{0,39}$'", name=op.f("ck_notification_event")
        ),
        sa.CheckConstraint(
            "status IN ('new', 'done', 'skipped')", name=op.f("ck_notification_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_notification_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["voucher.id"],
            name=op.f("fk_notification_voucher_id_voucher"),
            ondelete="SET NULL",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("key", name=op.f("uq_notification_key")),
    )
    op.create_index(
        "ix_notification_new", "notification", ["id"], postgresql_where=sa.text("status = 'new'")
    )
    op.create_index(
        op.f("ix_notification_tenant_id_created_at"), "notification", ["tenant_id", "created_at"]
    )
    # The expiry sweep: sold vouchers (they have a phone) ending soon.
    op.create_index(
        "ix_voucher_expires_at_sold", "voucher", ["expires_at"],
        postgresql_where=sa.text("phone IS NOT NULL"),
    )  # fmt: skip
    run_sql_file("0016_usage_warnings.up.sql")


def downgrade() -> None:
    run_sql_file("0016_usage_warnings.down.sql")
    run_sql_file("0002_lifecycle.up.sql", only=("CREATE FUNCTION radius_accounting(",))
    op.execute(f"ALTER FUNCTION {ACCOUNTING} SECURITY DEFINER SET search_path = public, pg_temp")
    op.execute(f"REVOKE EXECUTE ON FUNCTION {ACCOUNTING} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {ACCOUNTING} TO mnetifi_radius")
    op.drop_index("ix_voucher_expires_at_sold", table_name="voucher")
    op.drop_table("notification")
    op.drop_table("notification_rule")
    op.drop_table("outage")
    op.drop_constraint(op.f("ck_tenant_messages"), "tenant", type_="check")
    for column in ("message_prefixes", "message_daily_cap", "quiet_hours_to", "quiet_hours_from",
                   "expiry_warning_minutes"):  # fmt: skip
        op.drop_column("tenant", column)
    op.drop_column("voucher", "warned_time_quota")
    op.drop_column("voucher", "warned_data_quota")
    op.drop_constraint(op.f("ck_plan_usage_warning_percent"), "plan", type_="check")
    op.drop_column("plan", "usage_warning_percent")
    op.drop_constraint(op.f("ck_tenant_usage_warning_percent"), "tenant", type_="check")
    op.drop_column("tenant", "usage_warning_percent")
