"""Staff alerts: an index of each ISP's failed sign-ins (audit_event rows auth.login_failed and
auth.second_factor_failed, by time), so that each failure counts the ISP's failures of the last
minutes from the index alone (api/auth/alerts.py) instead of reading the ISP's whole audit log
through ix_audit_event_tenant_id_id. Failed sign-ins are a small share of the log, and the
index takes only them.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_audit_event_failed_login ON audit_event (tenant_id, created_at)"
        " WHERE action IN ('auth.login_failed', 'auth.second_factor_failed')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_audit_event_failed_login")
