"""alembic upgrade head on an empty database, downgrade base, and upgrade again."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from api.subscribers import secrets as passwords
from tests.factories import padding_fails

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_TABLES = {
    "tenant",
    "staff_user",
    "audit_event",
    "router",
    "plan",
    "voucher",
    "radcheck",
    "radreply",
    "radusergroup",
    "radgroupcheck",
    "radgroupreply",
    "radacct",
    "radpostauth",
    "voucher_device",
    "payment_settings",
    "stk_request",
    "payment",
    "payment_grant",
    "payment_event",
    "portal_settings",
    "promo_code",
    "coa_request",
    "fair_usage_rule",
    "fair_usage_state",
}


@pytest.fixture
async def empty_database():
    url = make_url(os.environ["MNETIFI_DATABASE_URL"])
    name = "migtest_" + secrets.token_hex(4)
    dsn = dict(host=url.host, port=url.port, user=url.username, password=url.password)
    admin = await asyncpg.connect(database="postgres", **dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False), dsn | {"database": name}
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def alembic(url: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


async def relations(dsn: dict) -> tuple[set[str], set[str], set[str]]:
    conn = await asyncpg.connect(**dsn)
    try:
        tables = {
            r[0]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        views = {
            r[0]
            for r in await conn.fetch("SELECT viewname FROM pg_views WHERE schemaname = 'public'")
        }
        functions = {
            r[0]
            for r in await conn.fetch(
                "SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
            )
        }
        return tables, views, functions
    finally:
        await conn.close()


async def test_upgrade_downgrade_upgrade(empty_database):
    url, dsn = empty_database

    alembic(url, "upgrade", "head")
    tables, views, functions = await relations(dsn)
    assert EXPECTED_TABLES <= tables
    assert views == {"nas"}
    assert {"radius_authorize", "radius_post_auth"} <= functions

    alembic(url, "downgrade", "base")
    tables, views, functions = await relations(dsn)
    assert tables == {"alembic_version"} and views == set() and functions == set()

    alembic(url, "upgrade", "head")
    assert EXPECTED_TABLES <= (await relations(dsn))[0]


# Every combination of what voucher_state() looks at, against four usages; times relative to
# now(), and usable_until given as an offset from it, so two runs compare equal.
STATE_GRID = """
SELECT row(s.state, s.reason, s.used_seconds, s.used_bytes, s.seconds_left, s.bytes_left,
           s.usable_until - now())::text AS answer
  FROM (VALUES ('active'), ('revoked')) st(status),
       (VALUES (NULL::interval), (interval '-1 day')) fu(first_used),
       (VALUES (interval '-10 days'), (interval '-1 day')) iss(issued),
       (VALUES (interval '1 hour'), (interval '-1 hour')) ex(expires),
       (VALUES (NULL::bigint), (3600)) tq(time_quota),
       (VALUES (NULL::bigint), (1000000000)) dq(data_quota),
       (VALUES (0::bigint, 0::bigint), (100, 100), (3600, 1000000000),
               (100000000, 100000000000)) u(used_seconds, used_bytes),
       LATERAL (SELECT jsonb_populate_record(NULL::voucher, jsonb_build_object(
           'id', 1, 'status', st.status, 'duration_seconds', 7200,
           'first_used_at', now() + fu.first_used, 'issued_at', now() + iss.issued,
           'expires_at', CASE WHEN fu.first_used IS NOT NULL THEN now() + ex.expires END,
           'time_quota_seconds', tq.time_quota, 'data_quota_bytes', dq.data_quota)) AS v) vv,
       LATERAL voucher_state(vv.v, 3, u.used_seconds, u.used_bytes) s
 ORDER BY 1
"""


async def test_voucher_state_inlined_answers_as_before(empty_database):
    """0024 made voucher_state() an inlined SQL expression: the same answer as 0002's PL/pgSQL for
    every combination it looks at, before and after, and back again on downgrade."""
    url, dsn = empty_database

    async def answers() -> list[str]:
        conn = await asyncpg.connect(**dsn)
        try:
            return [r["answer"] for r in await conn.fetch(STATE_GRID)]
        finally:
            await conn.close()

    async def plan() -> str:
        conn = await asyncpg.connect(**dsn)
        try:
            rows = await conn.fetch(
                "EXPLAIN (VERBOSE) SELECT (voucher_state(v, 3, 0::bigint, 0::bigint)).reason "
                "FROM voucher v"
            )
            return "\n".join(r[0] for r in rows)
        finally:
            await conn.close()

    alembic(url, "upgrade", "0023")
    before = await answers()
    assert "voucher_state(" in await plan()
    assert len(before) == 2**6 * 4 and len({a.split(",")[0] for a in before}) == 5

    alembic(url, "upgrade", "head")
    assert await answers() == before
    # Inlined: the plan holds the expressions, not a call.
    assert "voucher_state(" not in await plan()

    alembic(url, "downgrade", "0023")
    assert await answers() == before


async def test_subscriber_password_inlined_and_a_wrong_key_is_an_error(empty_database):
    """0026 made subscriber_password() an inlined SQL expression: the same password with the key
    and NULL without one, before, after and after a downgrade; a wrong key is an error after it
    (it was NULL, taken for a wrong password)."""
    url, dsn = empty_database
    key = secrets.token_bytes(32)
    blob = passwords.encrypt("Kitengela-2024 ñ", with_key=key)
    other = secrets.token_bytes(32)
    while not padding_fails(blob, other):
        other = secrets.token_bytes(32)

    async def decrypt(with_key: bytes | None, once_set: bool = False) -> tuple[str | None, str]:
        conn = await asyncpg.connect(**dsn)
        try:
            if once_set:  # set for a transaction once: the connection sees '' afterwards
                async with conn.transaction():
                    await conn.execute("SELECT set_config('mnetifi.password_key', 'ab', true)")
            if with_key:
                await conn.execute(
                    "SELECT set_config('mnetifi.password_key', $1, false)", with_key.hex()
                )
            query = "SELECT subscriber_password($1)"
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN VERBOSE " + query, blob))
            return await conn.fetchval(query, blob), plan
        finally:
            await conn.close()

    alembic(url, "upgrade", "0025")
    assert (await decrypt(key))[0] == "Kitengela-2024 ñ"
    assert (await decrypt(None))[0] is None and (await decrypt(other))[0] is None
    assert "subscriber_password(" in (await decrypt(key))[1]

    alembic(url, "upgrade", "0026")
    plain, plan = await decrypt(key)
    assert plain == "Kitengela-2024 ñ"
    # Inlined: the plan holds the decryption, not a call.
    assert "subscriber_password(" not in plan and "decrypt_iv(" in plan
    assert (await decrypt(None))[0] is None and (await decrypt(None, once_set=True))[0] is None
    with pytest.raises(asyncpg.ExternalRoutineInvocationError, match="Decryption failed"):
        await decrypt(other)

    alembic(url, "downgrade", "0025")
    assert (await decrypt(key))[0] == "Kitengela-2024 ñ" and (await decrypt(other))[0] is None
    assert "subscriber_password(" in (await decrypt(key))[1]
