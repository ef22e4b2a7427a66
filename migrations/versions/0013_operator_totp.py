"""Platform operators sign in with a second factor, always: a TOTP secret (encrypted, the last
step used kept so a code works once, a pending secret until a code from it is proved) and ten
recovery codes, hashed.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("platform_operator", sa.Column("totp_secret_enc", sa.Text(), nullable=True))
    op.add_column("platform_operator", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column("platform_operator", sa.Column("pending_secret_enc", sa.Text(), nullable=True))
    op.add_column(
        "platform_operator",
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "operator_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["platform_operator.id"],
            name=op.f("fk_operator_recovery_code_operator_id_platform_operator"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_recovery_code")),
        sa.UniqueConstraint(
            "operator_id", "code_hash", name=op.f("uq_operator_recovery_code_operator_id_code_hash")
        ),
    )


def downgrade() -> None:
    op.drop_table("operator_recovery_code")
    for column in ("totp_enabled_at", "pending_secret_enc", "totp_last_step", "totp_secret_enc"):
        op.drop_column("platform_operator", column)
