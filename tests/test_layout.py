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
    # Messages left queued by a stopped process, retries due, and sends that hang, of every ISP
    # at once.
    "api.messaging.tasks",
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


# Tables owned by a router (a tech sees only allocated routers' rows): their models, and their
# names in SQL text written in the function itself.
ROUTER_MODELS = {"Router", "RadAcct", "CoaRequest"}
ROUTER_TABLES = re.compile(r"\b(from|join)\s+(router|radacct|coa_request)\b", re.IGNORECASE)
ROUTER_SCOPE_CALLS = {"router_scope", "principal_sql"}
SQL_BUILDERS = {"scoped", "tenant_sql", "select", "text"}


def _touches_router_rows(node: ast.AST) -> bool:
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    strings = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
    sql = " ".join(v for v in strings if isinstance(v, str))
    return bool(names & ROUTER_MODELS) or bool(ROUTER_TABLES.search(sql))


def _unscoped_router_queries(source: str) -> list[str]:
    """Functions that take a Principal and build SQL on a router-owned table without the router
    scope (a function that only hands the principal on is judged where the SQL is built)."""
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        args = node.args.args + node.args.kwonlyargs
        takes_principal = any(
            a.annotation is not None and "Principal" in ast.unparse(a.annotation) for a in args
        )
        calls = _calls(node)
        if (
            takes_principal
            and calls & SQL_BUILDERS
            and _touches_router_rows(node)
            and not calls & ROUTER_SCOPE_CALLS
        ):
            offenders.append(node.name)
    return offenders


def test_queries_on_router_owned_tables_for_a_principal_take_the_router_scope() -> None:
    offenders = {
        name: found
        for name, path in _modules().items()
        if name not in CROSS_TENANT and (found := _unscoped_router_queries(path.read_text()))
    }
    assert not offenders, f"router-owned rows without router_scope()/principal_sql(): {offenders}"


def test_the_router_scope_rule_catches_an_unscoped_query() -> None:
    unscoped = (
        "async def list_(session, principal: Principal):\n"
        "    return await session.scalars(scoped(Router, principal.tenant_id))\n"
    )
    scoped_ = (
        "async def list_(session, principal: Principal):\n"
        "    stmt = scoped(Router, principal.tenant_id)\n"
        "    return await session.scalars(stmt.where(router_scope(principal, Router.id)))\n"
    )
    raw = (
        "async def log(session, principal: Principal):\n"
        "    sql = 'SELECT 1 FROM coa_request c WHERE {tenant:c}'\n"
        "    return await session.execute(tenant_sql(principal.tenant_id, sql))\n"
    )
    assert _unscoped_router_queries(unscoped) == ["list_"]
    assert _unscoped_router_queries(raw) == ["log"]
    assert _unscoped_router_queries(scoped_) == []
