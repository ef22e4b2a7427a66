"""The M-Pesa money path: STK requests, payments, grants and the raw callback log.

Revision ID: 0004
Revises: 0003
"""

from migrations.sql import run_sql_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0004_payments.up.sql")


def downgrade() -> None:
    run_sql_file("0004_payments.down.sql")
