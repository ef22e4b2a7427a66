"""The house rules of api/, checked on the source (issue 12): no import circle between modules
(function-level imports count: they only hide one), no SQL in the modules that hold HTTP
routes, and one way to tenant data: every statement on a tenant-owned table (a model with a
`tenant_id` column) starts from the scope helpers of api/tenancy.py, `scoped()` or
`in_tenant()` for the ORM and `tenant_sql()` for SQL text, and no tenant condition is written by
hand. Deliberate cross-tenant queries live in the modules listed below, each with its reason,
and only there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from api.models import Base

ROOT = Path(__file__).resolve().parent.parent
API = ROOT / "api"

# The one place that says where a query may reach past one ISP, and why. The tenant rules below
# do not look inside these modules; everything else reaches tenant data through the scope.
CROSS_TENANT = {
    "api.tenancy": "the scope helpers themselves, and an API token found by its hash (it names "
    "its ISP, like a login's e-mail and ISP do)",
    "api.cli": "the operator's command line acts on any ISP it is told, or on all",
    "api.worker": "one worker serves every ISP: its schedule and heartbeat",
    "api.health": "health checks the database as a whole",
    "api.payments.ledger": "the money check, across every ISP at once",
    "api.payments.tasks": "the worker's sweeps: due STK Query checks and unjudged callbacks, of "
    "every ISP at once",
    "api.payments.events_repository": "every Daraja callback as it came, stored before its ISP "
    "is known (a forged one has none) and judged again by its id",
    "api.sessions.sweeps": "the worker's queries over every ISP: due CoAs, session sweeps, which "
    "ISPs to evaluate",
    "api.messaging.tasks": "messages left queued by a stopped process, retries due, and sends "
    "that hang, of every ISP at once",
    "api.messaging.repository": "the outbox holds the platform's own messages (no ISP) too; the "
    "sender reaches a message by its id, a status report by the provider's id; and `mnetifi "
    "secrets rotate` reads every ISP's WhatsApp and e-mail accounts",
    "api.auth.credentials": "a one-time link is found by its hash before anyone is known (it "
    "names its ISP, like a token)",
    "api.tenants.repository": "the tenant table is the root of scoping: an ISP found by its slug "
    "(a Host, a login) before any tenant is known",
    "api.rotation": "`mnetifi secrets rotate` re-encrypts every ISP's stored secrets",
    "api.notifications.repository": "the notification queue: the worker claims every ISP's new "
    "notifications at once and marks each by its id",
    "api.notifications.sweeps": "the expiry warning's sweep over every ISP's sold vouchers",
    "api.subscribers.sweeps": "the worker's sweeps over every ISP's subscribers: expiries with a "
    "live session, reminders and dunning",
    "api.offers.queue": "the broadcasts' queue: a worker takes the oldest offer still expanding, "
    "of every ISP",
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
        if name not in CROSS_TENANT and HAND_SCOPE.search(path.read_text())
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


# ------------------------------------------------------------------ one way to tenant data

# Tenant-owned tables: the models with a tenant_id column (a new one is covered the day it is
# written), and their names as SQL text spells them.
TENANT_MODELS = {
    m.class_.__name__: m.local_table.name
    for m in Base.registry.mappers
    if "tenant_id" in m.local_table.c
}
TENANT_TABLES = re.compile(
    r"\b(?:from|join|update|into)\s+(?:only\s+)?("
    + "|".join(sorted(set(TENANT_MODELS.values()), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
STATEMENTS = {"select", "update", "delete"}
ORM_SCOPE = {"scoped", "in_tenant"}


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _chain(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.AST:
    """The whole method chain a statement is built in: `select(M).where(...).limit(1)`."""
    while True:
        up = parents.get(node)
        if isinstance(up, ast.Attribute) and up.value is node:
            node = up
        elif isinstance(up, ast.Call) and up.func is node:
            node = up
        else:
            return node


def _models_named(nodes: list[ast.expr]) -> set[str]:
    """Tenant models a statement names: `select(Voucher)`, `select(Voucher.id, Plan.name)`."""
    return {
        n.id for arg in nodes for n in ast.walk(arg) if isinstance(n, ast.Name)
    } & TENANT_MODELS.keys()


def _scoped_models(chain: ast.AST) -> set[str]:
    return {
        n.args[0].id
        for n in ast.walk(chain)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id in ORM_SCOPE
        and n.args
        and isinstance(n.args[0], ast.Name)
    }


def _sql_text(node: ast.AST, assigned: dict[str, list[ast.expr]], depth: int = 0) -> str:
    """The SQL a text() call is given: its string literals, and those of the names it reads
    (`text(_INSERT_BATCH)`, `text(insert.format(...))`), as far as the module says them."""
    parts = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            parts.append(n.value)
        elif isinstance(n, ast.Name) and n.id in assigned and depth < 3:
            parts += [_sql_text(value, assigned, depth + 1) for value in assigned[n.id]]
    return " ".join(parts)


MODELS = {m.class_.__name__ for m in Base.registry.mappers}


def _hand_written_condition(node: ast.Compare) -> bool:
    """`Voucher.tenant_id == x` where x is a value, not another table's column (a join)."""

    def column(e: ast.expr, name: str | None = None) -> bool:
        return (
            isinstance(e, ast.Attribute)
            and isinstance(e.value, ast.Name)
            and e.value.id in MODELS
            and (name is None or e.attr == name)
        )

    sides = [node.left, *node.comparators]
    return any(column(e, "tenant_id") for e in sides) and not all(column(e) for e in sides)


def _unscoped_tenant_statements(source: str) -> list[str]:
    """Statements on tenant-owned tables that do not start from the tenant scope: an ORM
    select/update/delete naming a tenant model without `scoped()`/`in_tenant()` for it in the
    same chain, SQL text on a tenant table outside `tenant_sql()`, `session.get()` of a tenant
    model (by primary key: any ISP's row), and a tenant condition written by hand."""
    tree = ast.parse(source)
    parents = _parents(tree)
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and _hand_written_condition(node):
            found.append((line, "tenant_id compared by hand (use in_tenant())"))
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in STATEMENTS:
            missing = _models_named(node.args) - _scoped_models(_chain(node, parents))
            found += [(line, f"{func.id}({m}) without scoped()/in_tenant()") for m in missing]
        elif isinstance(func, ast.Name) and func.id == "text":
            tables = {t.lower() for t in TENANT_TABLES.findall(_sql_text(node, assigned))}
            found += [(line, f"text() on {t} (use tenant_sql())") for t in tables]
        elif isinstance(func, ast.Attribute) and func.attr == "get" and node.args:
            model = node.args[0]
            if isinstance(model, ast.Name) and model.id in TENANT_MODELS:
                found.append((line, f"get({model.id}) by primary key (use scoped())"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def test_tenant_tables_are_reached_through_the_scope() -> None:
    offenders = {
        name: found
        for name, path in _modules().items()
        if name not in CROSS_TENANT and (found := _unscoped_tenant_statements(path.read_text()))
    }
    assert not offenders, (
        "tenant-owned tables reached without the tenant scope (build the statement from "
        "scoped()/in_tenant() or tenant_sql(); a query across ISPs on purpose goes in a module "
        f"listed in CROSS_TENANT, with its reason): {offenders}"
    )


def test_cross_tenant_modules_exist_and_say_why() -> None:
    modules = _modules()
    assert {name for name in CROSS_TENANT if name not in modules} == set()
    assert all(len(reason) > 20 for reason in CROSS_TENANT.values())


def test_the_tenant_rule_knows_the_tenant_tables() -> None:
    assert {"Voucher", "StkRequest", "Payment", "Message", "StaffLink"} <= TENANT_MODELS.keys()
    assert "Tenant" not in TENANT_MODELS and "PlatformOperator" not in TENANT_MODELS


def test_the_tenant_rule_catches_unscoped_statements() -> None:
    unscoped = """
async def f(session, tenant_id, request_id, staff_id, code):
    await session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(x=1))
    await session.scalar(select(Voucher.id).where(Voucher.code == code))
    await session.execute(text("UPDATE stk_request SET status = 'paid' WHERE id = :id"))
    await session.execute(text(SQL))
    await session.get(StaffLink, 1)
    await session.execute(delete(Plan).where(Plan.id == 1, Plan.tenant_id == tenant_id))
    inner = scoped(Voucher, tenant_id).where(Voucher.plan_id.in_(select(Plan.id)))
SQL = "SELECT 1 FROM payment p JOIN voucher v ON v.id = p.id"
"""
    assert _unscoped_tenant_statements(unscoped) == [
        "line 3: update(StaffUser) without scoped()/in_tenant()",
        "line 4: select(Voucher) without scoped()/in_tenant()",
        "line 5: text() on stk_request (use tenant_sql())",
        "line 6: text() on payment (use tenant_sql())",
        "line 6: text() on voucher (use tenant_sql())",
        "line 7: get(StaffLink) by primary key (use scoped())",
        "line 8: delete(Plan) without scoped()/in_tenant()",
        "line 8: tenant_id compared by hand (use in_tenant())",
        "line 9: select(Plan) without scoped()/in_tenant()",
    ]
    scoped_ = """
async def f(session, tenant_id, request_id, staff_id, code):
    await session.execute(
        update(StaffUser).where(in_tenant(StaffUser, tenant_id), StaffUser.id == staff_id)
    )
    await session.scalar(select(Voucher.id).where(in_tenant(Voucher, tenant_id)).limit(1))
    await session.execute(
        tenant_sql(tenant_id, "UPDATE stk_request SET status = 'paid' WHERE {tenant} AND id = :id")
    )
    await session.scalar(scoped(Voucher, tenant_id).join(Plan, Plan.tenant_id == Voucher.tenant_id))
    await session.execute(text("SELECT id, slug FROM tenant WHERE slug = :slug"))
    await session.get(Tenant, tenant_id)
"""
    assert _unscoped_tenant_statements(scoped_) == []
