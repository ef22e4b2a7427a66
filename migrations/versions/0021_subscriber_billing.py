"""Subscriber billing (issue 16, part 2): balances and renewals exactly once per payment,
expiries acted on once per due date, STK pushes for a subscriber's bill, Disconnects that move a
live session in or out of the expired state, reminder and dunning settings.

Revision ID: 0021
Revises: 0020
"""

from migrations.sql import run_sql_file

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0021_subscriber_billing.up.sql")


def downgrade() -> None:
    run_sql_file("0021_subscriber_billing.down.sql")
