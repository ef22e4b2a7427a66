"""Each ISP's sending rate: at most tenant.message_rate_per_minute messages a minute on each
channel (600 by default), so a burst (a promotion, a thousand warnings, a flood of purchases
someone scripted) drains the ISP's SMS balance no faster than it chose; the rest wait their
turn (api/messaging/pacing.py).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenant",
        sa.Column("message_rate_per_minute", sa.Integer(), server_default="600", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_tenant_message_rate_per_minute"), "tenant",
        "message_rate_per_minute BETWEEN 1 AND 60000",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint(op.f("ck_tenant_message_rate_per_minute"), "tenant", type_="check")
    op.drop_column("tenant", "message_rate_per_minute")
