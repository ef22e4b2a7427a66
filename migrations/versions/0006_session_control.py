"""Session control: Disconnect and CoA requests per session, with the router's answers.

Revision ID: 0006
Revises: 0005
"""

from migrations.sql import run_sql_file

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql_file("0006_session_control.up.sql")


def downgrade() -> None:
    run_sql_file("0006_session_control.down.sql")
