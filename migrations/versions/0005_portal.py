"""The captive portal: ISP branding and promo codes.

Revision ID: 0005
Revises: 0004
"""

from migrations.sql import run_sql_file

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0005_portal.up.sql")


def downgrade() -> None:
    run_sql_file("0005_portal.down.sql")
