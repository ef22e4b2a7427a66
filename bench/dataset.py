"""The full-policy data set, loaded into mnetifi's schema and into the package's stock schema.

mnetifi (database mnetifi): one tenant and router, --vouchers active vouchers of four kinds so
that every branch of radius_authorize() runs:

  plain  50%  device limit 1, no quota              one known device
  time   20%  device limit 2, 20 h time quota       two known devices
  data   20%  device limit 2, 20 GB data quota      two known devices
  bound  10%  device limit 2, MAC binding, both quotas

and --sessions radacct rows with voucher_id set, written in start-time order as a live server
writes them (so a voucher's sessions are spread over the table): closed sessions over the last
25 days (about --sessions / --vouchers per voucher, none over its quota), 5% of vouchers with
an open session updated in the last 200 s (on the request's own device for a device-limit-1
voucher, on the second device otherwise, so the device count finds one but stays under the
limit) and 1% with a ghost session last updated 2 h ago. voucher_device holds every device.

stock (database mnetifi_stock): the package's schema.sql, radcheck Cleartext-Password and a
group per voucher kind, and radacct rows made the same way (without tenant_id and voucher_id).

Rows are generated in PostgreSQL from a COPY of the users; a data set of the same size that is
still fresh is reused (pass --reload to rebuild).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from common import OURS_ROUTER
from sqlalchemy import Table

from api.models import Base
from api.subscribers.secrets import encrypt

STOCK_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
STOCK_DB = "mnetifi_stock"
DAY = 86400
# kind: (share, device_limit, mac_binding, time_quota_seconds, data_quota_bytes, devices)
KINDS = {
    "plain": (0.5, 1, False, None, None, 1),
    "time": (0.2, 2, False, 20 * 3600, None, 2),
    "data": (0.2, 2, False, None, 20 << 30, 2),
    "bound": (0.1, 2, True, 20 * 3600, 10 << 30, 2),
}


@dataclass
class User:
    code: str
    kind: str
    macs: list[str]  # the first is the device in the benchmark's requests


def mac(ordinal: int, device: int) -> str:
    """Device `device` of user `ordinal`: a locally administered address, as RouterOS writes it."""
    return ":".join(f"{octet:02X}" for octet in (2, device, *ordinal.to_bytes(4, "big")))


def make_users(n: int) -> list[User]:
    codes: set[str] = set()
    while len(codes) < n:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(8)))
    rng = random.Random(42)
    names, weights = list(KINDS), [k[0] for k in KINDS.values()]
    users = []
    for i, code in enumerate(sorted(codes)):
        kind = rng.choices(names, weights)[0]
        users.append(User(code, kind, [mac(i, d) for d in range(KINDS[kind][5])]))
    return users


# The radacct rows, from temp table bench_user(ord, username, voucher_id, mac0, mac1). The
# @COLUMNS@/@VALUES@ slots add tenant_id and voucher_id in mnetifi's schema; only constants go
# there. $1 sessions in all, $2 users.
RADACCT_SQL = """
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, nasportid, nasporttype,
                     acctstarttime, acctupdatetime, acctstoptime, acctinterval, acctsessiontime,
                     acctauthentic, acctinputoctets, acctoutputoctets, calledstationid,
                     callingstationid, acctterminatecause, servicetype, framedipaddress @COLUMNS@)
SELECT to_hex(s.n), md5('bench-' || s.n), u.username, '@ROUTER@', s.port, 'Wireless-802.11',
       s.start, s.updated, s.stop, 300, extract(epoch FROM s.updated - s.start)::bigint,
       'RADIUS', (random() * 1e8)::bigint, (random() * 2e8)::bigint, 'hotspot1',
       CASE s.device WHEN 0 THEN u.mac0 WHEN 1 THEN coalesce(u.mac1, u.mac0)
                     ELSE coalesce(u.mac1, '02:EE:00:00:00:01') END,
       CASE WHEN s.stop IS NOT NULL THEN 'User-Request' END, 'Login-User',
       ('10.5.' || (s.n >> 8 & 255) || '.' || (s.n & 255))::inet @VALUES@
  FROM (
        -- closed sessions: 1 min to 1 h, over the last 25 days
        SELECT n, ord, start, start + d AS updated, start + d AS stop, 'bridge1' AS port, device
          FROM (SELECT n, floor(random() * $2)::int AS ord, (random() < 0.4)::int AS device,
                       now() - interval '1 hour' - make_interval(secs => random() * 25 * 86400)
                           AS start,
                       make_interval(secs => 60 + random() * 3540) AS d
                  FROM generate_series(1, $1 - $2 / 20 - $2 / 100) AS n) c
        UNION ALL
        -- open and fresh: on the second device when the voucher has two, else its own
        SELECT $1 + ord, ord, now() - make_interval(secs => 300 + random() * 7200),
               now() - make_interval(secs => random() * 200), NULL, 'bridge-open', 1
          FROM generate_series(0, $2 - 1, 20) AS ord
        UNION ALL
        -- open ghosts the device limit must ignore, on another device
        SELECT 2 * $1 + ord, ord, now() - interval '3 hours', now() - interval '2 hours',
               NULL, 'bridge-ghost', 2
          FROM generate_series(7, $2 - 1, 100) AS ord
       ) s
  JOIN bench_user u ON u.ord = s.ord
 ORDER BY s.start
"""

# Reopens the data set's open sessions (the worker's sweeper closes them once they are past
# the grace period) and makes the live ones fresh again.
FRESHEN_SQL = """
UPDATE radacct
   SET acctstoptime = NULL, acctterminatecause = NULL,
       acctupdatetime = CASE nasportid WHEN 'bridge-open'
                        THEN now() - make_interval(secs => random() * 200)
                        ELSE now() - interval '2 hours' END
 WHERE nasportid IN ('bridge-open', 'bridge-ghost')
"""


async def freshen(conn: asyncpg.Connection) -> None:
    """FRESHEN_SQL, with radacct held first: the stack's worker closes stale sessions
    (close_stale_sessions()) every few seconds, row by row in its own order, and the two
    deadlocked on a bench run right after the stack came up. The worker waits, then carries on."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE radacct IN SHARE ROW EXCLUSIVE MODE")
        await conn.execute(FRESHEN_SQL)


def with_dependents(*names: str) -> list[Table]:
    """These tables and every table whose foreign keys reach them, dependents first, read from
    the models (the schema, as tests/test_models_schema.py holds them to): a new table that
    references one of ours is emptied with it, with nobody keeping a list."""
    tables = {name: Base.metadata.tables[name] for name in names}
    grown = True
    while grown:
        grown = False
        for table in Base.metadata.tables.values():
            if table.name not in tables and any(
                fk.column.table.name in tables for fk in table.foreign_keys
            ):
                tables[table.name] = table
                grown = True
    return [t for t in reversed(Base.metadata.sorted_tables) if t.name in tables]


async def _empty(conn: asyncpg.Connection, tenant: int) -> None:
    """Sessions, logins and devices go whole (the bench database is ours alone); the bench
    ISP's vouchers and plans go with everything that hangs off them (payments, grants, CoA
    requests of earlier benchmarks). Only constant table names reach the SQL."""
    truncate = with_dependents("radacct", "radpostauth", "voucher_device")
    await conn.execute("TRUNCATE " + ", ".join(t.name for t in truncate))
    for table in with_dependents("voucher", "plan"):
        if table not in truncate:
            await conn.execute(f"DELETE FROM {table.name} WHERE tenant_id = $1", tenant)  # noqa: S608


async def _users_table(conn: asyncpg.Connection, users: list[User], ids: dict[str, int]) -> None:
    await conn.execute(
        "CREATE TEMP TABLE bench_user (ord int PRIMARY KEY, username text, voucher_id bigint, "
        "mac0 text, mac1 text)"
    )
    await conn.copy_records_to_table(
        "bench_user",
        records=[
            (i, u.code, ids.get(u.code), u.macs[0], u.macs[1] if len(u.macs) > 1 else None)
            for i, u in enumerate(users)
        ],
    )


async def _radacct(conn: asyncpg.Connection, sessions: int, users: int, tenant: int | None) -> None:
    sql = RADACCT_SQL.replace("@ROUTER@", OURS_ROUTER)
    sql = sql.replace("@COLUMNS@", ", tenant_id, voucher_id" if tenant else "")
    sql = sql.replace("@VALUES@", ", $3::integer, u.voucher_id" if tenant else "")
    await conn.execute(sql, sessions, users, *([tenant] if tenant else []))


async def _reuse_ours(conn: asyncpg.Connection, tenant: int, label: str) -> list[User] | None:
    """The loaded users if the data set has this size and is fresh, else None."""
    name = await conn.fetchval("SELECT name FROM tenant WHERE id = $1", tenant)
    fresh = await conn.fetchval(
        "SELECT min(expires_at) > now() + interval '1 day' FROM voucher WHERE tenant_id = $1",
        tenant,
    )
    if not (name.startswith(label) and fresh):
        return None
    rows = await conn.fetch(
        "SELECT v.code, p.name, array_agg(d.mac ORDER BY d.mac) AS macs "
        "  FROM voucher v JOIN plan p ON p.id = v.plan_id "
        "  JOIN voucher_device d ON d.voucher_id = v.id "
        " WHERE v.tenant_id = $1 GROUP BY v.code, p.name ORDER BY v.code",
        tenant,
    )
    await freshen(conn)
    await conn.execute("TRUNCATE radpostauth")
    # Earlier runs (the accounting benchmark's sessions) leave dead rows: start from a vacuumed
    # table each time, as autovacuum keeps a live one.
    await conn.execute("VACUUM (ANALYZE) radacct")
    return [User(r["code"], r["name"], list(r["macs"])) for r in rows]


async def load_ours(
    dsn: dict, vouchers: int, sessions: int, secret: str, reload: bool
) -> tuple[str, list[User]]:
    """Returns (the load's label, the users); the label ties the stock database to this load."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await conn.fetchval(
            "INSERT INTO tenant (slug, name) VALUES ('bench', 'Bench ISP') "
            "ON CONFLICT (slug) DO UPDATE SET slug = excluded.slug RETURNING id"
        )
        # A running FreeRADIUS keeps the router's secret in memory: keep the row, update it.
        await conn.execute(
            "INSERT INTO router (tenant_id, name, ip_address, secret) VALUES ($1, 'r', $2, $3) "
            "ON CONFLICT (ip_address) DO UPDATE SET secret = excluded.secret",
            tenant,
            OURS_ROUTER,
            secret,
        )
        size = f"Bench ISP {vouchers} vouchers {sessions} sessions"
        users = None if reload else await _reuse_ours(conn, tenant, size)
        if users is not None:
            name = await conn.fetchval("SELECT name FROM tenant WHERE id = $1", tenant)
            return name, users
        label = f"{size} {secrets.token_hex(4)}"
        users = make_users(vouchers)
        await _empty(conn, tenant)
        plans = {}
        for kind, (_, limit, binding, tq, dq, _) in KINDS.items():
            plans[kind] = await conn.fetchval(
                "INSERT INTO plan (tenant_id, name, price, duration_seconds, time_quota_seconds, "
                "data_quota_bytes, upload_kbps, download_kbps, device_limit, mac_binding) "
                "VALUES ($1, $2, 1000, $3, $4, $5, 2000, 4000, $6, $7) RETURNING id",
                *(tenant, kind, 30 * DAY, tq, dq, limit, binding),
            )
        await conn.copy_records_to_table(
            "voucher",
            columns=[
                "tenant_id",
                "plan_id",
                "code",
                "status",
                "duration_seconds",
                "time_quota_seconds",
                "data_quota_bytes",
                "rate_limit",
                "device_limit",
                "mac_binding",
            ],
            records=[
                (tenant, plans[u.kind], u.code, "active", 30 * DAY, *KINDS[u.kind][3:5])
                + ("2M/4M", *KINDS[u.kind][1:3])
                for u in users
            ],
        )
        # Returning customers: activated 25 days ago, 5 days left.
        await conn.execute(
            "UPDATE voucher SET issued_at = now() - interval '26 days', "
            "first_used_at = now() - interval '25 days', expires_at = now() + interval '5 days' "
            "WHERE tenant_id = $1",
            tenant,
        )
        ids = dict(await conn.fetch("SELECT code, id FROM voucher WHERE tenant_id = $1", tenant))
        router = await conn.fetchval("SELECT id FROM router WHERE ip_address = $1", OURS_ROUTER)
        await conn.copy_records_to_table(
            "voucher_device",
            columns=["voucher_id", "mac", "tenant_id", "router_id"],
            records=[(ids[u.code], m, tenant, router) for u in users for m in u.macs],
        )
        await _users_table(conn, users, ids)
        await _radacct(conn, sessions, len(users), tenant)
        await conn.execute("UPDATE tenant SET name = $2 WHERE id = $1", tenant, label)
        await conn.execute("VACUUM (ANALYZE) voucher, voucher_device, radacct, radpostauth")
        return label, users
    finally:
        await conn.close()


async def load_stock(dsn: dict, users: list[User], sessions: int, label: str) -> None:
    """The stock database for these users, unless it already holds this load."""
    admin = await asyncpg.connect(**(dsn | {"database": "postgres"}))
    try:
        comment = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            STOCK_DB,
        )
        if comment == label:
            conn = await asyncpg.connect(**(dsn | {"database": STOCK_DB}))
            await conn.execute("TRUNCATE radpostauth")
            await conn.close()
            return
        await admin.execute(f"DROP DATABASE IF EXISTS {STOCK_DB} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {STOCK_DB}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(**(dsn | {"database": STOCK_DB}))
    try:
        await conn.execute(STOCK_SCHEMA.read_text())  # noqa: ASYNC240 (a script, one file)
        await conn.copy_records_to_table(
            "radcheck",
            columns=["username", "attribute", "op", "value"],
            records=[(u.code, "Cleartext-Password", ":=", u.code) for u in users],
        )
        await conn.copy_records_to_table(
            "radusergroup",
            columns=["username", "groupname", "priority"],
            records=[(u.code, u.kind, 1) for u in users],
        )
        await conn.executemany(
            "INSERT INTO radgroupreply (groupname, attribute, op, value) VALUES ($1, $2, ':=', $3)",
            [
                (kind, attribute, value)
                for kind in KINDS
                for attribute, value in [
                    ("Mikrotik-Rate-Limit", "2M/4M"),
                    ("Session-Timeout", str(5 * DAY)),
                    ("Acct-Interim-Interval", "300"),
                ]
            ],
        )
        await _users_table(conn, users, {})
        await _radacct(conn, sessions, len(users), None)
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute(f"COMMENT ON DATABASE {STOCK_DB} IS '{label}'")
    finally:
        await conn.close()


async def load_subscribers(dsn: dict, count: int, key: bytes) -> list[tuple[str, str]]:
    """`count` PPPoE subscribers of the bench ISP (paid up, on one monthly plan, no fixed IP),
    their passwords encrypted under the stack's RADIUS password key as the API does; made
    afresh each run (a few thousand rows). Returns (username, password) pairs."""
    conn = await asyncpg.connect(**dsn)
    try:
        tenant = await conn.fetchval("SELECT id FROM tenant WHERE slug = 'bench'")
        await conn.execute("DELETE FROM subscriber WHERE tenant_id = $1", tenant)
        await conn.execute("DELETE FROM subscriber_plan WHERE tenant_id = $1", tenant)
        plan = await conn.fetchval(
            "INSERT INTO subscriber_plan (tenant_id, name, price, upload_kbps, download_kbps, "
            "rate_limit) VALUES ($1, 'Home 10M', 2500, 5000, 10000, '5M/10M') RETURNING id",
            tenant,
        )
        pairs = [(f"pppoe{i:06d}@bench", f"pw-{i:06d}-x") for i in range(count)]
        await conn.copy_records_to_table(
            "subscriber",
            columns=[
                "tenant_id",
                "username",
                "kind",
                "encrypted_password",
                "name",
                "plan_id",
                "due_at",
            ],  # fmt: skip
            records=[
                (
                    tenant,
                    u,
                    "pppoe",
                    encrypt(p, with_key=key),
                    "Bench",
                    plan,
                    datetime.now(UTC) + timedelta(days=20),
                )  # fmt: skip
                for u, p in pairs
            ],
        )
        return pairs
    finally:
        await conn.close()
