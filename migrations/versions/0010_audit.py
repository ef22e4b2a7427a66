"""The audit log of everything: user agent and before/after values per event, rows kept when
their ISP or staff member is deleted, and append-only enforced by a trigger.

`changes` is one JSONB column, {field: {"before": x, "after": y}} for the fields that changed
only, rather than two whole-row columns: each field's pair stays together, an unchanged field
costs nothing, and "which events touched price" is one `changes ? 'price'`.

The foreign keys to tenant (ON DELETE CASCADE) and staff_user (ON DELETE SET NULL) are dropped:
both would change audit rows, which the trigger refuses, so deleting an ISP or a staff member
would fail. The ids stay as recorded facts (with the actor's email beside them).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.sql import run_sql_file

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("fk_audit_event_tenant_id_tenant", "audit_event", type_="foreignkey")
    op.drop_constraint("fk_audit_event_actor_id_staff_user", "audit_event", type_="foreignkey")
    op.add_column("audit_event", sa.Column("user_agent", sa.Text(), nullable=True))
    op.add_column(
        "audit_event",
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.create_index("ix_audit_event_actor_id", "audit_event", ["actor_id"])
    # Replaces the index on tenant_id alone: an ISP's log is read newest first.
    op.create_index("ix_audit_event_tenant_id_id", "audit_event", ["tenant_id", "id"])
    op.drop_index("ix_audit_event_tenant_id", table_name="audit_event")
    run_sql_file("0010_audit.up.sql")


def downgrade() -> None:
    run_sql_file("0010_audit.down.sql")
    op.create_index("ix_audit_event_tenant_id", "audit_event", ["tenant_id"])
    op.drop_index("ix_audit_event_tenant_id_id", table_name="audit_event")
    op.drop_index("ix_audit_event_actor_id", table_name="audit_event")
    op.drop_column("audit_event", "changes")
    op.drop_column("audit_event", "user_agent")
    # Rows kept for deleted ISPs or staff cannot satisfy the old foreign keys again.
    op.execute(
        "DELETE FROM audit_event a WHERE a.tenant_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM tenant t WHERE t.id = a.tenant_id)"
    )
    op.execute(
        "UPDATE audit_event a SET actor_id = NULL"
        " WHERE NOT EXISTS (SELECT 1 FROM staff_user s WHERE s.id = a.actor_id)"
    )
    op.create_foreign_key(
        "fk_audit_event_actor_id_staff_user",
        "audit_event",
        "staff_user",
        ["actor_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_audit_event_tenant_id_tenant",
        "audit_event",
        "tenant",
        ["tenant_id"],
        ["id"],
        ondelete="CASCADE",
    )
