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
