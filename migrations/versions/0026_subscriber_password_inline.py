"""A subscriber's password is decrypted by an expression inlined into
radius_authorize_subscriber() instead of a PL/pgSQL call with its own SET and EXCEPTION block
(issue 16: the PPPoE mix against voucher-only); a wrong key is now an error ("Service temporarily
unavailable"), not a wrong password counted against every subscriber.

Revision ID: 0026
Revises: 0025
"""

from migrations.sql import run_sql_file

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# What a downgrade puts back: 0020's subscriber_password() and its grants.
PASSWORD_0020 = (
    "CREATE FUNCTION subscriber_password(",
    "REVOKE EXECUTE ON FUNCTION subscriber_password(",
)


def upgrade() -> None:
    run_sql_file("0026_subscriber_password_inline.up.sql")


def downgrade() -> None:
    run_sql_file("0026_subscriber_password_inline.down.sql")
    run_sql_file("0020_subscribers.up.sql", only=PASSWORD_0020)
