"""An ISP's M-Pesa (Daraja) account, secrets encrypted at rest.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_settings",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.Text(), nullable=False),
        sa.Column("account_type", sa.Text(), nullable=False),
        sa.Column("shortcode", sa.Text(), nullable=False),
        sa.Column("till_number", sa.Text(), nullable=True),
        sa.Column("c2b_shortcode", sa.Text(), nullable=True),
        sa.Column("currency", sa.Text(), server_default="KES", nullable=False),
        sa.Column("consumer_key_enc", sa.Text(), nullable=False),
        sa.Column("consumer_secret_enc", sa.Text(), nullable=False),
        sa.Column("passkey_enc", sa.Text(), nullable=False),
        sa.Column("initiator_name", sa.Text(), nullable=True),
        sa.Column("initiator_password_enc", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "environment IN ('sandbox', 'production')", name=op.f("ck_payment_settings_environment")
        ),
        sa.CheckConstraint(
            "account_type IN ('paybill', 'till')", name=op.f("ck_payment_settings_account_type")
        ),
        sa.CheckConstraint(
            "(account_type = 'till') = (till_number IS NOT NULL)",
            name=op.f("ck_payment_settings_till_number"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_settings_currency")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_payment_settings_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_payment_settings")),
    )


def downgrade() -> None:
    op.drop_table("payment_settings")
