"""FreeRADIUS connects as mnetifi_radius, which may call the RADIUS path's functions and read the
nas view and nothing else: a leaked radiusd.conf password reads no voucher, payment or staff
row and writes nothing directly. (Login and accounting through that role are what every other
test in tests/radius/ does.)"""

from __future__ import annotations

import os

import asyncpg
import pytest
from sqlalchemy.engine import make_url


@pytest.fixture
async def radius_conn():
    url = make_url(os.environ["MNETIFI_DATABASE_URL"])
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port,
        database=url.database,
        user=os.environ["MNETIFI_RADIUS_DB_USER"],
        password=os.environ["MNETIFI_RADIUS_DB_PASSWORD"],
    )
    yield conn
    await conn.close()


def test_the_stack_runs_freeradius_as_the_radius_role():
    raddb = os.path.join(os.environ["MNETIFI_RUN_DIR"], "raddb", "mods-enabled", "sql")
    with open(raddb) as f:
        assert 'login = "mnetifi_radius"' in f.read()


@pytest.mark.parametrize(
    "table",
    [
        "voucher",
        "payment",
        "tenant",
        "staff_user",
        "router",
        "radacct",
        "auth_failure",
        "subscriber",
        "subscriber_plan",
        "zone",
        "ip_pool",
    ],  # fmt: skip
)
async def test_it_cannot_read_tables(radius_conn, table):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await radius_conn.fetch(f"SELECT * FROM {table} LIMIT 1")  # noqa: S608 (fixed names)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE voucher SET status = 'active'",
        "DELETE FROM radacct",
        "INSERT INTO radpostauth (username, reply) VALUES ('x', 'Access-Accept')",
        "UPDATE auth_failure SET blocked_until = NULL",
        "SELECT auth_failure_count(1, 1, 'x', 1, 60, 60)",
        "SELECT close_stale_sessions()",
        # a subscriber's password only ever comes out of radius_authorize() or
        # radius_authorize_subscriber(), for its router
        "SELECT subscriber_password('\\x00')",
        "CREATE TABLE mine (id integer)",
    ],
)
async def test_it_cannot_write(radius_conn, statement):
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await radius_conn.execute(statement)


async def test_it_can_do_what_freeradius_needs(radius_conn):
    assert await radius_conn.fetchval("SELECT count(*) FROM nas") >= 0
    # An unregistered router: one empty row, nothing written.
    row = await radius_conn.fetchrow(
        "SELECT * FROM radius_authorize(0, '192.0.2.1', 'NOCODE', 'AA:BB:CC:DD:EE:FF', 'hotspot')"
    )
    assert row["o_tenant_id"] is None
    # PPP and DHCP requests call the subscriber half directly (migration 0023): the same answer.
    for service in ("ppp", "dhcp"):
        row = await radius_conn.fetchrow(
            "SELECT * FROM radius_authorize_subscriber(0, '192.0.2.1', 'someone', $1)", service
        )
        assert row["o_tenant_id"] is None and row["o_password"] is None
