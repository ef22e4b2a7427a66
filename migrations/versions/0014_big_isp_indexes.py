"""Indexes for a big ISP's dashboard (a million vouchers, ten million sessions): every list page
reads one page of an index, newest first, with a keyset cursor, and the searches and the home
page's figures read index ranges, never the ISP's whole table.

- voucher (tenant_id, issued_at DESC, id DESC) replaces (tenant_id, issued_at DESC): the list's
  order has id as its tie-break, and a batch's vouchers share one issued_at, so without id the
  page deep in a big batch sorted the whole batch.
- voucher (tenant_id, phone) and payment (tenant_id, phone), partial on a phone being there: the
  vouchers found by a customer's phone (their own, and those their payments bought or extended;
  the receipt has uq_payment_tenant_id_receipt already).
- payment (tenant_id, id): the payments page, newest first by id; (tenant_id, paid_at) with the
  amount: the home page's money today and this month, summed from the index alone; (tenant_id)
  where the status is unclaimed or held: the money waiting for staff, counted on the home and
  payments pages (a handful of rows).
- radacct (tenant_id, acctstarttime DESC, radacctid DESC) where open: the sessions page's
  online list, newest first, from the open sessions alone (through the whole history's index
  it read every session of the ISP whenever few or none were online);
  (tenant_id, nasipaddress, acctupdatetime) where open: a router's live sessions,
  counted from the index alone; (tenant_id, nasipaddress, GREATEST(acctstarttime,
  acctupdatetime) DESC NULLS LAST): a router's last accounting packet from the top of the
  index (api/routers/repository.py), where the routers' health used to group every session of
  the ISP by router on each view of the home and routers pages.

CREATE INDEX holds off writes to its table while it builds (radacct's: about 20 s on ten
million rows, 2 vCPU; FreeRADIUS spools accounting to disk meanwhile and replays it).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_voucher_tenant_id_phone": "voucher (tenant_id, phone) WHERE phone IS NOT NULL",
    "ix_payment_tenant_id_phone": "payment (tenant_id, phone) WHERE phone IS NOT NULL",
    "ix_payment_tenant_id_id": "payment (tenant_id, id)",
    "ix_payment_tenant_id_paid_at": "payment (tenant_id, paid_at) INCLUDE (amount)",
    "ix_payment_unresolved": "payment (tenant_id) WHERE status IN ('unclaimed', 'held')",
    "ix_radacct_open_by_tenant_start": (
        "radacct (tenant_id, acctstarttime DESC, radacctid DESC) WHERE acctstoptime IS NULL"
    ),
    "ix_radacct_open_by_tenant_nas": (
        "radacct (tenant_id, nasipaddress, acctupdatetime) WHERE acctstoptime IS NULL"
    ),
    "ix_radacct_tenant_nas_last": (
        "radacct (tenant_id, nasipaddress, GREATEST(acctstarttime, acctupdatetime) DESC NULLS LAST)"
    ),
}


def upgrade() -> None:
    op.execute("DROP INDEX ix_voucher_tenant_id_issued_at")
    op.execute(
        "CREATE INDEX ix_voucher_tenant_id_issued_at"
        " ON voucher (tenant_id, issued_at DESC, id DESC)"
    )
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.execute(f"DROP INDEX {name}")
    op.execute("DROP INDEX ix_voucher_tenant_id_issued_at")
    op.execute("CREATE INDEX ix_voucher_tenant_id_issued_at ON voucher (tenant_id, issued_at DESC)")
