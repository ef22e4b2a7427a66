"""A voucher login costs PostgreSQL less, continued (issue 16): voucher_state(), the rules given
a voucher's usage, becomes a SQL function the planner inlines, and radius_authorize() computes
the voucher's state inside its one statement instead of calling it afterwards.

Revision ID: 0024
Revises: 0023
"""

from migrations.sql import run_sql_file

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# What a downgrade puts back: 0023's radius_authorize(), and 0002's voucher_state() (the
# PL/pgSQL rules and the API's wrapper that calls them).
AUTHORIZE_0023 = ("CREATE OR REPLACE FUNCTION radius_authorize(",)
STATE_0002 = ("CREATE FUNCTION voucher_state(",)


def upgrade() -> None:
    run_sql_file("0024_voucher_state_inline.up.sql")


def downgrade() -> None:
    run_sql_file("0023_voucher_login_cost.up.sql", only=AUTHORIZE_0023)
    run_sql_file("0024_voucher_state_inline.down.sql")
    run_sql_file("0002_lifecycle.up.sql", only=STATE_0002)
