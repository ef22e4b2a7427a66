"""Outages by zone (issue 15's "for a router, a zone or the whole ISP"): an outage may name a
zone instead of a router; the customers online at the routers of that zone and every zone
below it are told, and the portal shows it behind those routers. At most one of router and
zone (neither: the whole ISP). The zone is the ISP's own (composite key); deleting a zone takes
its outages with it, as deleting a router does.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        ALTER TABLE outage
            ADD COLUMN zone_id integer,
            ADD CONSTRAINT fk_outage_tenant_id_zone FOREIGN KEY (tenant_id, zone_id)
                REFERENCES zone (tenant_id, id) ON DELETE CASCADE,
            ADD CONSTRAINT ck_outage_one_place CHECK (router_id IS NULL OR zone_id IS NULL)""")
    op.execute("CREATE INDEX ix_outage_zone_id ON outage (zone_id) WHERE zone_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX ix_outage_zone_id")
    op.execute("""
        ALTER TABLE outage DROP CONSTRAINT ck_outage_one_place,
                           DROP CONSTRAINT fk_outage_tenant_id_zone,
                           DROP COLUMN zone_id""")
