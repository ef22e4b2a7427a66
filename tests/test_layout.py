"""The house rules of api/, checked on the source (issue 12): no import circle between modules
(function-level imports count: they only hide one), no SQL in the modules that hold HTTP
routes, and no tenant condition written by hand (tenant queries start from `scoped()` or
`tenant_sql()` in api/tenancy.py; deliberate cross-tenant SQL lives in the modules listed
below, and only there)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "api"

# Modules that speak for every ISP at once, by design: the worker's sweeps, the CLI, the money
# check across ISPs, health. Each query there is cross-tenant on purpose.
CROSS_TENANT = {
    "api.cli",
    "api.worker",
    "api.health",
    "api.payments.ledger",
    # The worker's sweeps: due STK Query checks and unjudged callbacks, of every ISP at once.
    "api.payments.tasks",
    # the worker's queries over every ISP: due CoAs, session sweeps, which ISPs to evaluate
    "api.sessions.sweeps",
    # SMS left queued by a stopped process, and sends that hang, of every ISP at once.
    "api.sms.tasks",
}
HAND_SCOPE = re.compile(r"tenant_id\s*=\s*:(?!tenant_id\b)|tenant_id\s*=\s*:tenant_id")
SQL_CALLS = {"text", "select", "execute", "scalar", "scalars", "tenant_sql"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in API.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of api/ that `name` imports, at any level of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle_in_api() -> None:
    modules = _modules()
    known = set(modules)
    # A package's __init__ importing its own modules is not a circle of design.
    graph = {
        name: {t for t in _imports(name, path, known) if not name.startswith(t + ".")}
        for name, path in modules.items()
    }
    assert not _circles(graph), f"import circle(s): {_circles(graph)}"


def _package(module: str) -> str:
    """`api.sessions.control` -> `api.sessions`; a top-level module is its own room."""
    return ".".join(module.split(".")[:2])


def test_no_circle_between_packages() -> None:
    """Rooms stand above what they use: the portal above payments, payments above sessions,
    sessions above vouchers and routers. Two packages that import each other (at any level of
    a file) have no such order."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(_package(name), set())
        edges |= {_package(t) for t in _imports(name, path, known)} - {_package(name)}
    for targets in list(graph.values()):
        for t in targets:
            graph.setdefault(t, set())
    assert not _circles(graph), f"packages importing each other: {_circles(graph)}"


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return names


def test_route_modules_hold_no_sql() -> None:
    offenders = {
        name
        for name, path in _modules().items()
        if "APIRouter(" in (source := path.read_text()) and _calls(ast.parse(source)) & SQL_CALLS
    }
    assert not offenders, f"SQL in modules with HTTP routes (move it to a repository): {offenders}"


def test_tenant_conditions_come_from_the_scope_helpers() -> None:
    offenders = {
        name
        for name, path in _modules().items()
        if name not in CROSS_TENANT
        and name != "api.tenancy"
        and HAND_SCOPE.search(path.read_text())
    }
    assert not offenders, f"tenant_id written by hand (use scoped() or tenant_sql()): {offenders}"


def test_the_scope_helper_scopes_and_binds() -> None:
    from api.tenancy import tenant_sql  # noqa: PLC0415 - the subject, next to the rules

    statement = tenant_sql(
        7, "SELECT 1 FROM plan p JOIN voucher v ON true WHERE {tenant:p} AND {tenant:v}"
    )
    sql = str(statement)
    assert "p.tenant_id = :tenant_id" in sql and "v.tenant_id = :tenant_id" in sql
    assert statement.compile().params == {"tenant_id": 7}
    try:
        tenant_sql(7, "SELECT 1 FROM plan")
    except ValueError:
        pass
    else:
        raise AssertionError("a tenant statement without its scope was accepted")
