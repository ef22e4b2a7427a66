"""A voucher login costs PostgreSQL less (issue 16: vouchers stay at least twice a stock
server's auth/s): radius_authorize() probes the device by primary key instead of aggregating the
voucher's devices, and looks up fair usage only while the ISP has a rule crossed
(tenant.fair_usage_states, counted by a trigger on fair_usage_state).

Revision ID: 0023
Revises: 0022
"""

from alembic import op

from migrations.sql import run_sql_file

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

AUTHORIZE_0020 = (
    "CREATE FUNCTION radius_authorize(",
    "ALTER FUNCTION radius_authorize(",
    "REVOKE EXECUTE ON FUNCTION radius_authorize(",
    "GRANT EXECUTE ON FUNCTION radius_authorize(",
)


def upgrade() -> None:
    run_sql_file("0023_voucher_login_cost.up.sql")


def downgrade() -> None:
    op.execute("DROP FUNCTION radius_authorize(integer, text, text, text, text)")
    run_sql_file("0020_subscribers.up.sql", only=AUTHORIZE_0020)
    run_sql_file("0023_voucher_login_cost.down.sql")
