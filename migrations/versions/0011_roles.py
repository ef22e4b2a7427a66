"""Roles: routers allocated to staff (a tech sees only these) and the platform's operators.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Targets of staff_router's composite keys: an allocation cannot cross ISPs.
    op.create_unique_constraint("uq_router_tenant_id_id", "router", ["tenant_id", "id"])
    op.create_unique_constraint("uq_staff_user_tenant_id_id", "staff_user", ["tenant_id", "id"])
    op.create_table(
        "staff_router",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column(
            "tenant_id",
            sa.Integer,
            sa.ForeignKey("tenant.id", ondelete="CASCADE", name="fk_staff_router_tenant_id_tenant"),
            nullable=False,
        ),
        sa.Column("staff_id", sa.Integer, nullable=False),
        sa.Column("router_id", sa.Integer, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "staff_id"],
            ["staff_user.tenant_id", "staff_user.id"],
            ondelete="CASCADE",
            name="fk_staff_router_tenant_id_staff_user",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "router_id"],
            ["router.tenant_id", "router.id"],
            ondelete="CASCADE",
            name="fk_staff_router_tenant_id_router",
        ),
        sa.UniqueConstraint("staff_id", "router_id", name="uq_staff_router_staff_id_router_id"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_router"),
    )
    op.create_index("ix_staff_router_router_id", "staff_router", ["router_id"])
    op.create_table(
        "platform_operator",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, server_default="true", nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_platform_operator"),
        sa.UniqueConstraint("email", name="uq_platform_operator_email"),
    )


def downgrade() -> None:
    op.drop_table("platform_operator")
    op.drop_table("staff_router")
    op.drop_constraint("uq_staff_user_tenant_id_id", "staff_user")
    op.drop_constraint("uq_router_tenant_id_id", "router")
