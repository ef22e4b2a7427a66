"""The models are the schema (STYLE.md): `api.models.Base.metadata` against the migrated database.

Two comparisons, because neither sees everything:

- alembic's autogenerate comparison (`compare_metadata`): tables, columns, types, nullability,
  server defaults, unique constraints, indexes by name and columns, foreign keys by columns,
  target and ON DELETE. It does not look at CHECK constraints, at a partial index's WHERE or an
  index's INCLUDE columns, nor at the names of primary and foreign keys.
- PostgreSQL's own rendering: the models' DDL is created in a scratch schema, in a transaction
  that is rolled back, and every column (type, NOT NULL, default), constraint
  (`pg_get_constraintdef`) and index (`pg_get_indexdef`) there is compared by name and
  definition with the migrated `public` schema. Both sides are printed by the same server, so
  the expressions are normalised alike.

Out of scope: views and SQL functions (the `nas` view, radius_authorize(), ...). Alembic
reflects tables only, and the catalogue queries below read ordinary tables (relkind 'r') only,
so no filter is needed for them; alembic skips its own `alembic_version`, the catalogue queries
leave it out by name.

The last test proves both comparisons can fail: it drifts the database inside a transaction,
sees each drift reported, and rolls back.
"""

from __future__ import annotations

import ast
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from api.db import get_engine
from api.models import Base

SKIPPED_TABLES = ("alembic_version",)
COMPARE = {"compare_type": True, "compare_server_default": True}
ENV = Path(__file__).resolve().parent.parent / "migrations" / "env.py"


def alembic_diffs(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts=COMPARE)
    return compare_metadata(context, Base.metadata)


def test_autogenerate_compares_what_this_test_compares() -> None:
    """`alembic revision --autogenerate` sees a changed type or server default, as this test
    does, so a migration written from it is not missing the change the test then reports."""
    tree = ast.parse(ENV.read_text())
    found = [
        ast.literal_eval(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "COMPARE" for t in node.targets)
    ]
    assert found == [COMPARE]
    configures = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "context.configure"
    ]
    assert configures and all(
        any(k.arg is None and ast.unparse(k.value) == "COMPARE" for k in c.keywords)
        for c in configures
    )


def describe(diff: Any) -> str:
    """One line per difference alembic found, saying on which side the object exists."""
    if isinstance(diff, list):  # modify_* differences come grouped per column
        return "\n".join(describe(d) for d in diff)
    op = diff[0]
    if op.startswith("modify_"):
        _, _, table, column, _, in_db, in_model = diff
        what = op.removeprefix("modify_")
        return (
            f"{table}.{column}: {what} {sql(in_db)} in the database, {sql(in_model)} in the model"
        )
    side = "model only" if op.startswith("add_") else "database only"
    obj = diff[-1]
    kind = op.split("_", 1)[1]
    if kind == "table":
        return f"{side}: table {obj.name}"
    if kind == "column":
        return f"{side}: column {obj.table.name}.{obj.name} {obj.type}"
    if not hasattr(obj, "table"):  # e.g. table comments: alembic's own wording
        return f"{side}: {diff!r}"
    parts = getattr(obj, "expressions", None) or list(obj.columns)
    names = ", ".join(getattr(p, "name", str(p)) for p in parts)
    line = f"{side}: {kind} {obj.table.name}.{obj.name} ({names})"
    if kind == "fk":
        targets = ", ".join(e.target_fullname for e in obj.elements)
        line += f" -> {targets} ON DELETE {obj.ondelete or 'NO ACTION'}"
    return line


def sql(value: Any) -> str:
    """A server default (DefaultClause over text or a string), a type or a flag, readably."""
    arg = getattr(value, "arg", value)
    return repr(getattr(arg, "text", arg))


# The catalogue read the same way for both schemas, with search_path set to the schema read so
# that PostgreSQL prints names in it unqualified (REFERENCES tenant(id), nextval('x_seq')).
CATALOGUE = """
WITH ns AS (SELECT CAST(:schema AS text) AS name)
SELECT c.relname, 'column', a.attname,
       format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
       || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
  FROM ns, pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = CAST(ns.name AS regnamespace) AND c.relkind = 'r'
   AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT c.relname, 'constraint', con.conname, pg_get_constraintdef(con.oid)
  FROM ns, pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
 WHERE c.relnamespace = CAST(ns.name AS regnamespace) AND c.relkind = 'r'
UNION ALL
SELECT c.relname, 'index', i.relname,
       replace(pg_get_indexdef(i.oid), ' ON ' || quote_ident(ns.name) || '.', ' ON ')
  FROM ns, pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class c ON c.oid = x.indrelid
 WHERE c.relnamespace = CAST(ns.name AS regnamespace) AND c.relkind = 'r'
"""


async def catalogue(conn: AsyncConnection, schema: str) -> dict[tuple[str, str, str], str]:
    await conn.execute(text("SELECT set_config('search_path', :s, true)"), {"s": schema})
    rows = await conn.execute(text(CATALOGUE), {"schema": schema})
    return {(t, kind, name): d for t, kind, name, d in rows if t not in SKIPPED_TABLES}


async def models_catalogue(conn: AsyncConnection) -> dict[tuple[str, str, str], str]:
    """The models' DDL created in a scratch schema of the caller's transaction, read back."""
    schema = "models_check_" + secrets.token_hex(4)
    await conn.execute(text(f"CREATE SCHEMA {schema}"))
    await conn.run_sync(
        lambda sync: Base.metadata.create_all(
            sync.execution_options(schema_translate_map={None: schema}), checkfirst=False
        )
    )
    return await catalogue(conn, schema)


def catalogue_diffs(
    database: dict[tuple[str, str, str], str], models: dict[tuple[str, str, str], str]
) -> list[str]:
    out = []
    for key in sorted(database.keys() | models.keys()):
        table, kind, name = key
        label = f"{kind} {table}.{name}"
        if key not in models:
            out.append(f"database only: {label}: {database[key]}")
        elif key not in database:
            out.append(f"model only: {label}: {models[key]}")
        elif database[key] != models[key]:
            out.append(f"differs: {label}:\n  database: {database[key]}\n  model:    {models[key]}")
    return out


async def all_diffs(conn: AsyncConnection) -> tuple[list[str], list[str]]:
    """Both comparisons, inside the caller's transaction (which must be rolled back)."""
    from_alembic = [describe(d) for d in await conn.run_sync(alembic_diffs)]
    database = await catalogue(conn, "public")
    from_catalogue = catalogue_diffs(database, await models_catalogue(conn))
    return from_alembic, from_catalogue


@pytest.fixture
async def conn() -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is always rolled back; waits for locks briefly."""
    async with get_engine().connect() as c:
        await c.begin()
        await c.execute(text("SET LOCAL lock_timeout = '5s'"))
        try:
            yield c
        finally:
            await c.rollback()


async def test_models_match_database_for_alembic(conn: AsyncConnection) -> None:
    diffs = [describe(d) for d in await conn.run_sync(alembic_diffs)]
    assert not diffs, "models and migrations differ:\n" + "\n".join(diffs)


async def test_models_match_database_in_catalogue(conn: AsyncConnection) -> None:
    """Names and definitions of every column, constraint (CHECK included) and index."""
    database = await catalogue(conn, "public")
    diffs = catalogue_diffs(database, await models_catalogue(conn))
    assert not diffs, "models and migrations differ:\n" + "\n".join(diffs)


async def test_comparisons_report_drift(conn: AsyncConnection) -> None:
    """A column, a CHECK and a partial index added by a migration without a model, and a partial
    index's WHERE changed, are each reported (the transaction is rolled back)."""
    for ddl in (
        "ALTER TABLE portal_settings ADD COLUMN drift text",
        "ALTER TABLE portal_settings ADD CONSTRAINT ck_portal_settings_drift CHECK (drift <> '')",
        "CREATE INDEX ix_portal_settings_drift ON portal_settings (language) WHERE logo IS NULL",
        "DROP INDEX ix_coa_request_due",
        "CREATE INDEX ix_coa_request_due ON coa_request (next_try_at) WHERE status = 'ack'",
    ):
        await conn.execute(text(ddl))

    from_alembic, from_catalogue = await all_diffs(conn)

    assert "database only: column portal_settings.drift TEXT" in from_alembic
    assert (
        "database only: index portal_settings.ix_portal_settings_drift (language)" in from_alembic
    )
    catalogue_report = "\n".join(from_catalogue)
    assert "database only: column portal_settings.drift: text" in catalogue_report
    assert "database only: constraint portal_settings.ck_portal_settings_drift:" in catalogue_report
    assert "database only: index portal_settings.ix_portal_settings_drift:" in catalogue_report
    # alembic does not compare a partial index's WHERE; the catalogue does
    assert "differs: index coa_request.ix_coa_request_due:" in catalogue_report
    assert len(from_catalogue) == 4, catalogue_report
