"""Subscribers (issue 16, part 1): zones (a tree per ISP, allocated to techs), IP pools, monthly
subscriber plans, PPPoE and static subscribers with passwords encrypted under a key the database
never holds, and the RADIUS path for them (radius_authorize() gains p_service and the
subscriber's answer; radius_accounting() records subscriber_id).

Revision ID: 0020
Revises: 0019
"""

from migrations.sql import run_sql_file

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

AUTHORIZE_0008 = (
    "CREATE FUNCTION radius_authorize(",
    "ALTER FUNCTION radius_authorize(",
    "REVOKE EXECUTE ON FUNCTION radius_authorize(",
    "GRANT EXECUTE ON FUNCTION radius_authorize(",
)


def upgrade() -> None:
    run_sql_file("0020_subscribers.up.sql")


def downgrade() -> None:
    run_sql_file(
        "0016_usage_warnings.up.sql", only=("CREATE OR REPLACE FUNCTION radius_accounting(",)
    )
    run_sql_file("0020_subscribers.down.sql")
    run_sql_file("0008_guess_throttle.up.sql", only=AUTHORIZE_0008)
