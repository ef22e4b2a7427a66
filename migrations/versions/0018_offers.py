"""Offers to consenting customers (issue 15): each ISP's consent per phone (offer_consent: ticked
"Send me offers" at a paid purchase, withdrawn by texting STOP or by staff), the SMS customers
send to the ISP (inbound_sms, once per Africa's Talking id), the broadcasts staff compose
(broadcast, expanded by the worker into messages), and on the outbox two more states for
offers: held (quiet hours) and skipped (opted out, or the daily cap); the ISP's SMS account
gains the shortcode customers text and the secret of its incoming-messages URL; a purchase keeps
whether the box was ticked and the portal's language.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

E164 = "^\\+[1-9][0-9]{6,14}$"
OLD_STATUSES = "status IN ('queued', 'sending', 'sent', 'delivered', 'failed')"
NEW_STATUSES = "status IN ('queued', 'held', 'sending', 'sent', 'delivered', 'failed', 'skipped')"


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "offer_consent",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=True),
        sa.Column("opted_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_in_source", sa.Text(), nullable=True),
        sa.Column("opted_in_ref", sa.Text(), nullable=True),
        sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opted_out_source", sa.Text(), nullable=True),
        sa.Column("opted_out_ref", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(f"phone ~ '{E164}'", name=op.f("ck_offer_consent_phone")),
        sa.CheckConstraint("status IN ('in', 'out')", name=op.f("ck_offer_consent_status")),
        sa.CheckConstraint("language IN ('en', 'sw')", name=op.f("ck_offer_consent_language")),
        sa.CheckConstraint(
            "opted_in_source IN ('purchase', 'staff')",
            name=op.f("ck_offer_consent_opted_in_source"),
        ),
        sa.CheckConstraint(
            "opted_out_source IN ('sms-stop', 'staff')",
            name=op.f("ck_offer_consent_opted_out_source"),
        ),
        sa.CheckConstraint(
            "(status = 'in' AND opted_in_at IS NOT NULL) OR (status = 'out' AND opted_out_at "
            "IS NOT NULL)",
            name=op.f("ck_offer_consent_when"),
        ),
        _tenant_fk("offer_consent"),
        sa.PrimaryKeyConstraint("tenant_id", "phone", name=op.f("pk_offer_consent")),
    )
    op.create_index(
        "ix_offer_consent_tenant_id_status_phone", "offer_consent", ["tenant_id", "status", "phone"]
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Text(), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("to_number", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link_id", sa.Text(), nullable=True),
        sa.Column("network_code", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "char_length(provider_id) BETWEEN 1 AND 100", name=op.f("ck_inbound_sms_provider_id")
        ),
        sa.CheckConstraint(f"sender ~ '{E164}'", name=op.f("ck_inbound_sms_sender")),
        sa.CheckConstraint("char_length(body) <= 1600", name=op.f("ck_inbound_sms_body")),
        sa.CheckConstraint("action IN ('opt-out')", name=op.f("ck_inbound_sms_action")),
        _tenant_fk("inbound_sms"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
    )
    op.create_index(
        "uq_inbound_sms_tenant_id_provider_id", "inbound_sms", ["tenant_id", "provider_id"],
        unique=True,
    )  # fmt: skip
    op.create_index("ix_inbound_sms_tenant_id_id", "inbound_sms", ["tenant_id", "id"])
    op.create_table(
        "broadcast",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("stop_to", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="expanding", nullable=False),
        sa.Column("audience", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 300", name=op.f("ck_broadcast_body")),
        sa.CheckConstraint(
            "cardinality(channels) >= 1 AND channels <@ ARRAY['sms', 'whatsapp']",
            name=op.f("ck_broadcast_channels"),
        ),
        sa.CheckConstraint("status IN ('expanding', 'done')", name=op.f("ck_broadcast_status")),
        sa.CheckConstraint("audience >= 0", name=op.f("ck_broadcast_audience")),
        _tenant_fk("broadcast"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast")),
    )
    op.create_index("ix_broadcast_tenant_id_id", "broadcast", ["tenant_id", "id"])
    op.create_index(
        "ix_broadcast_expanding", "broadcast", ["id"],
        postgresql_where=sa.text("status = 'expanding'"),
    )  # fmt: skip
    op.add_column("message", sa.Column("broadcast_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_message_broadcast_id_broadcast"), "message", "broadcast", ["broadcast_id"],
        ["id"], ondelete="CASCADE",
    )  # fmt: skip
    op.create_index(
        "ix_message_broadcast_id_status", "message", ["broadcast_id", "status"],
        postgresql_where=sa.text("broadcast_id IS NOT NULL"),
    )  # fmt: skip
    op.drop_constraint(op.f("ck_message_status"), "message", type_="check")
    op.create_check_constraint(op.f("ck_message_status"), "message", NEW_STATUSES)
    op.drop_index("ix_message_unsent", table_name="message")
    op.create_index(
        "ix_message_unsent", "message", ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'held', 'sending')"),
    )  # fmt: skip
    op.add_column("sms_settings", sa.Column("shortcode", sa.Text(), nullable=True))
    op.add_column("sms_settings", sa.Column("inbound_token_enc", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_sms_settings_shortcode"), "sms_settings", "shortcode ~ '^\\+?[0-9]{3,15}$'"
    )
    op.add_column(
        "stk_request",
        sa.Column("offers_opt_in", sa.Boolean(), server_default="false", nullable=False),
    )
    op.add_column("stk_request", sa.Column("language", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_stk_request_language"), "stk_request", "language IN ('en', 'sw')"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_stk_request_language"), "stk_request", type_="check")
    op.drop_column("stk_request", "language")
    op.drop_column("stk_request", "offers_opt_in")
    op.drop_constraint(op.f("ck_sms_settings_shortcode"), "sms_settings", type_="check")
    op.drop_column("sms_settings", "inbound_token_enc")
    op.drop_column("sms_settings", "shortcode")
    # Offers held or skipped have no state before 0017: held ones wait as queued (a later send
    # no longer knows the quiet hours), skipped ones end as failed with their reason.
    op.execute("UPDATE message SET status = 'queued' WHERE status = 'held'")
    op.execute("UPDATE message SET status = 'failed' WHERE status = 'skipped'")
    op.drop_index("ix_message_unsent", table_name="message")
    op.create_index(
        "ix_message_unsent", "message", ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )  # fmt: skip
    op.drop_constraint(op.f("ck_message_status"), "message", type_="check")
    op.create_check_constraint(op.f("ck_message_status"), "message", OLD_STATUSES)
    op.drop_index("ix_message_broadcast_id_status", table_name="message")
    op.drop_constraint(op.f("fk_message_broadcast_id_broadcast"), "message", type_="foreignkey")
    op.drop_column("message", "broadcast_id")
    op.drop_table("broadcast")
    op.drop_table("inbound_sms")
    op.drop_table("offer_consent")
