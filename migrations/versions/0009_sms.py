"""SMS through Africa's Talking: an ISP's account (API key encrypted at rest) and the message
outbox with delivery status, one message per idempotency key.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("api_key_enc", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),  # fmt: skip
        sa.CheckConstraint(
            "username ~ '^[A-Za-z0-9_.-]{1,64}$'", name=op.f("ck_sms_settings_username")
        ),
        sa.CheckConstraint(
            "sender_id ~ '^[A-Za-z0-9 ]{1,11}$'", name=op.f("ck_sms_settings_sender_id")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_sms_settings_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_sms_settings")),
    )
    op.create_table(
        "sms_message",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="queued", nullable=False),
        sa.Column("account", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("provider_status", sa.Text(), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Numeric(12, 4), nullable=True),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("network_code", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),  # fmt: skip
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),  # fmt: skip
        sa.CheckConstraint(
            "recipient ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f("ck_sms_message_recipient")
        ),
        sa.CheckConstraint(
            "char_length(body) BETWEEN 1 AND 1600", name=op.f("ck_sms_message_body")
        ),
        sa.CheckConstraint(
            "purpose ~ '^[a-z][a-z0-9_.-]{0,39}$'", name=op.f("ck_sms_message_purpose")
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'delivered', 'failed')",
            name=op.f("ck_sms_message_status"),
        ),
        sa.CheckConstraint("account IN ('isp', 'platform')", name=op.f("ck_sms_message_account")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_sms_message_tenant_id_tenant"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_message")),
    )
    op.create_index(
        "uq_sms_message_idempotency_key", "sms_message", ["idempotency_key"], unique=True
    )
    op.create_index(
        "uq_sms_message_provider_message_id", "sms_message", ["provider_message_id"], unique=True
    )
    op.create_index(
        "ix_sms_message_tenant_id_created_at", "sms_message", ["tenant_id", "created_at"]
    )
    op.create_index(
        "ix_sms_message_unsent", "sms_message", ["created_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending')"),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("sms_message")
    op.drop_table("sms_settings")
