"""Wrong subscriber passwords are throttled (issue 16): per account, in two buckets (the
account's known device, every other device), with the ISP's guess limits; FreeRADIUS passes the
Calling-Station-Id to radius_authorize_subscriber(), which refuses a blocked bucket before the
password is looked at, and counts a wrong password through radius_password_failure().

Revision ID: 0025
Revises: 0024
"""

from migrations.sql import run_sql_file

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# What a downgrade puts back: 0020's radius_authorize_subscriber() with 0023's grants, and 0008's
# prune_auth_failures().
SUBSCRIBER_0020 = (
    "CREATE FUNCTION radius_authorize_subscriber(",
    "REVOKE EXECUTE ON FUNCTION radius_authorize_subscriber(",
)
SUBSCRIBER_0023 = (
    "ALTER FUNCTION radius_authorize_subscriber(",
    "GRANT EXECUTE ON FUNCTION radius_authorize_subscriber(",
)
PRUNE_0008 = ("CREATE FUNCTION prune_auth_failures(",)


def upgrade() -> None:
    run_sql_file("0025_subscriber_password_throttle.up.sql")


def downgrade() -> None:
    run_sql_file("0025_subscriber_password_throttle.down.sql")
    run_sql_file("0020_subscribers.up.sql", only=SUBSCRIBER_0020)
    run_sql_file("0023_voucher_login_cost.up.sql", only=SUBSCRIBER_0023)
    run_sql_file("0008_guess_throttle.up.sql", only=PRUNE_0008)
