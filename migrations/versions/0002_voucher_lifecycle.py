"""Voucher lifecycle in the RADIUS path: per-voucher usage in radacct, the devices a voucher has
seen, tenant settings checks, and the SQL functions for quotas, device limits and accounting.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from migrations.sql import run_sql_file

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_tenant_unused_voucher_days"), "tenant", "unused_voucher_days >= 1"
    )
    op.create_check_constraint(
        op.f("ck_tenant_acct_interim_interval"),
        "tenant",
        "acct_interim_interval BETWEEN 60 AND 3600",
    )
    op.add_column("radacct", sa.Column("voucher_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_radacct_voucher_id_voucher"),
        "radacct",
        "voucher",
        ["voucher_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_table(
        "voucher_device",
        sa.Column("voucher_id", sa.BigInteger(), nullable=False),
        sa.Column("mac", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("router_id", sa.Integer(), nullable=True),
        sa.Column(
            "first_seen",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["voucher.id"],
            name=op.f("fk_voucher_device_voucher_id_voucher"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_voucher_device_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["router_id"],
            ["router.id"],
            name=op.f("fk_voucher_device_router_id_router"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("voucher_id", "mac", name=op.f("pk_voucher_device")),
    )
    run_sql_file("0002_lifecycle.up.sql")


def downgrade() -> None:
    run_sql_file("0002_lifecycle.down.sql")
    run_sql_file(
        "0001_radius.up.sql",
        only=("CREATE FUNCTION radius_authorize(", "CREATE FUNCTION radius_post_auth("),
    )
    op.drop_table("voucher_device")
    op.drop_constraint(op.f("fk_radacct_voucher_id_voucher"), "radacct", type_="foreignkey")
    op.drop_column("radacct", "voucher_id")
    op.drop_constraint(op.f("ck_tenant_acct_interim_interval"), "tenant", type_="check")
    op.drop_constraint(op.f("ck_tenant_unused_voucher_days"), "tenant", type_="check")
