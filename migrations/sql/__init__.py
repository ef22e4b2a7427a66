"""SQL that FreeRADIUS depends on, kept beside the queries in freeradius-config/ that call it.
A migration loads the files of its own revision, so later changes go into new files."""

from pathlib import Path

from alembic import op


def statements(sql: str) -> list[str]:
    """Split on semicolons ending statements outside $$ bodies (asyncpg runs one at a time)."""
    out, current, in_body = [], [], False
    for line in sql.splitlines():
        if line.lstrip().startswith("--") and not in_body:
            continue
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    rest = "\n".join(current).strip()
    if rest:
        out.append(rest)
    return out


def run_sql_file(name: str, only: tuple[str, ...] = ()) -> None:
    """Run a file's statements; with `only`, just those starting with one of these prefixes (a
    downgrade re-creates the functions an earlier revision defined)."""
    for statement in statements((Path(__file__).parent / name).read_text()):
        if not only or statement.startswith(only):
            op.execute(statement)
