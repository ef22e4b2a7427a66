"""RADIUS path hardening: wrong codes throttled per device and router, new devices serialized
on the voucher's row, and FreeRADIUS's own least-privilege role (mnetifi_radius).

Revision ID: 0008
Revises: 0007
"""

from migrations.sql import run_sql_file

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0008_guess_throttle.up.sql")


def downgrade() -> None:
    run_sql_file("0008_guess_throttle.down.sql")
    run_sql_file("0007_fair_usage.up.sql", only=("CREATE OR REPLACE FUNCTION radius_authorize(",))
    run_sql_file("0002_lifecycle.up.sql", only=("CREATE FUNCTION radius_post_auth(",))
