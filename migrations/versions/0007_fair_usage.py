"""Fair usage policy: rules, the state crossed now, and the rate FreeRADIUS gives new logins.

Revision ID: 0007
Revises: 0006
"""

from migrations.sql import run_sql_file

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0007_fair_usage.up.sql")


def downgrade() -> None:
    run_sql_file("0007_fair_usage.down.sql")
    run_sql_file("0002_lifecycle.up.sql", only=("CREATE FUNCTION radius_authorize(",))
