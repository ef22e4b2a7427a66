"""The permission walk: every route declares exactly one permission (or is public by design), and
every route called by every role answers what api/permissions.py's table says.

Callers: owner, admin, tech with A's router allocated, tech without, support (all of ISP A),
the owner of ISP B, a platform operator, and nobody. The expectation is derived from the table:
a role without the route's permission gets 403; with it, B's owner gets 404 on A's objects, the
tech without the allocation gets 404 on A's router and what hangs off it, and everyone else gets
through (anything but 401/403/404 on an object; a 422 for a body this walk does not fill in is
fine: the permission passed); nobody gets 401."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from api.config import get_settings
from api.main import create_app
from api.models import Tenant
from api.permissions import ROLE_PERMISSIONS, allows
from api.tenancy import Declared
from tests.factories import (
    login,
    make_operator,
    make_plan,
    make_router,
    make_staff,
    make_user_headers,
    operator_headers,
)
from tests.radius.conftest import sql
from tests.test_tenant_isolation import World, make_world

# FastAPI's own pages (no APIRoute, so nothing to declare): the OpenAPI document, and the static
# files of the portal and of the API docs (whose pages are routes of ours, declared public).
FRAMEWORK_PUBLIC = {
    "/openapi.json",
    "/docs/assets",
    "/hotspotportal/static",
    "/admin/static",
}
# Path parameters naming a router or something on one: a tech without the allocation gets 404.
# A zone and a subscriber likewise: the world's are in the zone allocated to "tech A" only.
ROUTER_BOUND = {"router_id", "session_id", "outage_id", "zone_id", "subscriber_id"}
# The dashboard's pages: asked on an ISP's own address; where a JSON route answers 401, a page
# leads to its sign-in page (303 to /admin/login), which the walk reads as 401.
PAGES = "/admin"
# Page actions that end their object (a form posts where the API says DELETE): each caller ends
# one of its own making, so the next caller still finds the world's.
FRESH_ENDINGS = ("/delete", "/retire", "/stop", "/withdraw")
# Path parameters naming something of the caller's own (one of their sessions): everyone with
# the permission gets through, another ISP's owner too (on their own).
# The same holds for an event's notification rule: each ISP's own, by the event's name.
PERSONAL = {"session_key", "event"}
# Valid bodies for routes on an object, so an answer is about the caller, not about validation.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/routers/{router_id}"): {"nas_identifier": "walked"},
    ("PATCH", "/api/v1/plans/{plan_id}"): {"price": 999},
    ("PATCH", "/api/v1/vouchers/{code}"): {"device_limit": 7},
    ("PATCH", "/api/v1/promos/{promo_id}"): {"max_uses": 9},
    ("PUT", "/api/v1/staff/{staff_id}/role"): {"role": "tech"},
    ("PUT", "/api/v1/staff/{staff_id}/routers"): {"router_ids": []},  # the router id is added
    ("POST", "/api/v1/vouchers/{code}/extend"): {"minutes": 1, "reason": "the permission walk"},
    ("PUT", "/api/v1/notifications/rules/{event}"): {"enabled": True},
    ("PUT", "/api/v1/staff/{staff_id}/zones"): {"zone_ids": []},
    ("PATCH", "/api/v1/zones/{zone_id}"): {"latitude": -1.2, "longitude": 36.9},
    ("PATCH", "/api/v1/ip-pools/{pool_id}"): {"name": "walked pool"},
    ("PATCH", "/api/v1/subscriber-plans/{subscriber_plan_id}"): {"price": 1999},
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): {"phone": "0712345678"},
    ("POST", "/api/v1/subscribers/{subscriber_id}/bill"): {"phone": "0712345678", "amount": 5},
}


def declarations(dependant: Dependant) -> list[Declared]:
    found = [dependant.call] if isinstance(dependant.call, Declared) else []
    for sub in dependant.dependencies:
        found += declarations(sub)
    return found


def all_routes(app: FastAPI) -> Iterator[tuple[Any, str]]:
    try:
        from fastapi.routing import iter_route_contexts  # noqa: PLC0415 - newer FastAPI
    except ImportError:
        yield from ((r, r.path) for r in app.routes)
    else:
        yield from ((rc.original_route, rc.path) for rc in iter_route_contexts(app.routes))


def permission_table(app: FastAPI) -> tuple[dict[tuple[str, str], Declared], list[str]]:
    """(method, path) -> what the route declares; and the routes declaring none or several."""
    table: dict[tuple[str, str], Declared] = {}
    problems = []
    for route, path in all_routes(app):
        if not isinstance(route, APIRoute):
            if not (isinstance(route, Route | Mount) and path in FRAMEWORK_PUBLIC):
                problems.append(f"{path}: not an API route and not a known framework page")
            continue
        found = declarations(route.dependant)
        for method in sorted(route.methods):
            if len(found) != 1:
                problems.append(f"{method} {path}: declares {len(found)} permissions, not one")
            else:
                table[(method, path)] = found[0]
    return table, problems


def test_every_route_declares_one_permission_from_the_table(app):
    table, problems = permission_table(app)
    assert not problems, "\n".join(problems)
    assert len(table) >= 70
    known = set().union(*ROLE_PERMISSIONS.values())
    unknown = {
        k: d.permission for k, d in table.items() if d.permission and d.permission not in known
    }
    assert not unknown, f"permissions no role holds: {unknown}"


def test_a_route_without_a_permission_fails_the_check():
    app = create_app()
    extra = APIRouter(prefix="/api/v1/things")

    @extra.get("/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(extra)
    _, problems = permission_table(app)
    assert problems == ["GET /api/v1/things/{thing_id}: declares 0 permissions, not one"]


@dataclass
class Caller:
    name: str
    role: str | None  # None: anonymous
    headers: Callable[[], Awaitable[dict[str, str]]]  # a fresh login (logout ends one)
    isp: str = "A"  # "A", "B" or "platform"
    host: str = ""  # the ISP address its dashboard pages are asked on (its own; A's for others)


async def _operator_headers(client) -> Callable[[], Awaitable[dict[str, str]]]:
    operator = await make_operator()

    async def fresh() -> dict[str, str]:
        return await operator_headers(client, operator)

    return fresh


async def _staff_headers(client, tenant: Tenant, role: str) -> tuple[int, Callable]:
    staff = await make_staff(tenant=tenant, role=role)

    async def fresh() -> dict[str, str]:
        return await login(client, tenant=tenant, staff=staff)

    return staff.id, fresh


async def _callers(client, a: World) -> tuple[list[Caller], int, int]:
    [tenant] = await sql("SELECT * FROM tenant WHERE id = :t", t=a.tenant_id)
    tenant_a = Tenant(id=tenant["id"], slug=tenant["slug"], name=tenant["name"])
    callers = []
    for name, role in [("owner A", "owner"), ("admin A", "admin"), ("tech A", "tech"),
                       ("tech A, not allocated", "tech"), ("support A", "support")]:  # fmt: skip
        staff_id, fresh = await _staff_headers(client, tenant_a, role)
        callers.append(Caller(name, role, fresh, host=a.host["host"]))
        if name == "tech A":
            allocated = staff_id
    tenant_b, headers_b = await make_user_headers(client)
    _, fresh_b = await _staff_headers(client, tenant_b, "owner")
    host_b = f"{tenant_b.slug}.{get_settings().base_domain}"
    callers.append(Caller("owner B", "owner", fresh_b, isp="B", host=host_b))
    operator = await _operator_headers(client)
    callers.append(Caller("operator", "operator", operator, "platform", host=a.host["host"]))

    async def nobody() -> dict[str, str]:
        return {}

    callers.append(Caller("anonymous", None, nobody, host=a.host["host"]))
    put = await client.put(f"/api/v1/staff/{allocated}/routers", headers=a.headers,
                           json={"router_ids": [a.router.id]})  # fmt: skip
    assert put.status_code == 200, put.text
    zones = await client.put(f"/api/v1/staff/{allocated}/zones", headers=a.headers,
                             json={"zone_ids": [a.network["zone"]["id"]]})  # fmt: skip
    assert zones.status_code == 200, zones.text
    subject, _ = await _staff_headers(client, tenant_a, "tech")  # the staff routes' object
    return callers, allocated, subject


def expected(caller: Caller, permission: str, path: str) -> int | None:
    """The status the table implies, or None for "gets through"."""
    params = {p.split("}")[0] for p in path.split("{")[1:]}
    if caller.role is None:
        return 401
    if not allows(caller.role, permission):
        return 403
    if caller.isp == "B" and params - PERSONAL:
        return 404
    if caller.name == "tech A, not allocated" and params & ROUTER_BOUND:
        return 404
    return None


async def _fresh_object(client, a: World, param: str, allocated: int) -> str:
    """A new object of A for a DELETE, so each caller deletes its own."""
    [row] = await sql("SELECT * FROM tenant WHERE id = :t", t=a.tenant_id)
    tenant = Tenant(id=row["id"], slug=row["slug"], name=row["name"])
    if param == "router_id":
        router = await make_router(tenant=tenant)
        await sql("INSERT INTO staff_router (tenant_id, staff_id, router_id) VALUES (:t, :s, :r)",
                  t=a.tenant_id, s=allocated, r=router.id)  # fmt: skip
        return str(router.id)
    if param == "plan_id":
        return str((await make_plan(tenant=tenant)).id)
    if param == "promo_id":
        body = {"code": "D" + secrets.token_hex(5).upper(), "kind": "fixed", "value": 1}
        response = await client.post("/api/v1/promos", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "rule_id":
        body = {"scope": "isp", "threshold": 1000, "rate_limit": "1M/1M", "plan_id": a.plan.id}
        response = await client.post("/api/v1/fair-usage", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "invite_id":
        body = {"email": f"walk-{secrets.token_hex(4)}@example.com", "role": "support"}
        response = await client.post("/api/v1/staff/invites", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "token_id":
        body = {"name": f"walk {secrets.token_hex(4)}", "permissions": ["plans:read"]}
        response = await client.post("/api/v1/tokens", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "zone_id":
        response = await client.post("/api/v1/zones", headers=a.headers,
                                     json={"name": "walk " + secrets.token_hex(4)})  # fmt: skip
        return str(response.json()["id"])
    if param == "pool_id":
        body = {"name": "walk " + secrets.token_hex(4), "cidr": "10.250.0.0/24"}
        response = await client.post("/api/v1/ip-pools", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "subscriber_plan_id":
        body = {"name": "walk " + secrets.token_hex(4), "price": 1, "upload_kbps": 100,
                "download_kbps": 100}  # fmt: skip
        response = await client.post("/api/v1/subscriber-plans", headers=a.headers, json=body)
        return str(response.json()["id"])
    if param == "subscriber_id":  # in the zone allocated to "tech A"
        body = {"username": "walk-" + secrets.token_hex(4), "name": "Walk",
                "plan_id": a.network["plan"]["id"], "zone_id": a.network["zone"]["id"]}  # fmt: skip
        response = await client.post("/api/v1/subscribers", headers=a.headers, json=body)
        return str(response.json()["id"])
    raise AssertionError(f"no fresh {param} for a DELETE; teach this test")


async def _call(client, caller: Caller, method: str, path: str, a: World, ids: dict[str, str],
                allocated: int, headers: dict[str, str]) -> tuple[int, str]:  # fmt: skip
    params = [p.split("}")[0] for p in path.split("{")[1:]]
    values = dict(ids)
    if "session_key" in params:  # a session of the caller's own, signed in for this
        bearer = (await caller.headers()).get("Authorization", "Bearer -").split()[-1]
        values["session_key"] = hashlib.sha256(bearer.encode()).hexdigest()
    elif method == "DELETE" or "invite_id" in params or path.endswith(FRESH_ENDINGS):
        # each caller removes (or spends) an object of its own making
        for p in params:
            values[p] = await _fresh_object(client, a, p, allocated)
    unknown = [p for p in params if p not in values]
    if unknown:
        return -1, f"unknown path parameter(s) {unknown}; teach this test"
    body = BODIES.get((method, path))
    if body is not None and "router_ids" in body:
        body = {"router_ids": [a.router.id]}
    if path in ("/api/v1/auth/logout", "/api/v1/platform/logout", "/admin/logout"):
        headers = await caller.headers()  # its own session, so the walk's stays signed in
    if path.startswith(PAGES):  # the dashboard: on the caller's own ISP's address
        headers = headers | {"host": caller.host}
    response = await client.request(method, path.format(**values), headers=headers, json=body)
    if response.status_code == 303 and response.headers["location"].endswith("/admin/login"):
        return 401, "a page sent the caller to sign in"  # what a JSON route says with 401
    return response.status_code, response.text[:200]


async def test_every_route_with_every_role(app, client):
    a = await make_world(client)
    callers, allocated, subject = await _callers(client, a)
    ids = a.params | {"code": a.codes[1], "staff_id": str(subject), "event": "usage.data"}
    table, problems = permission_table(app)
    assert not problems
    failures: list[str] = []
    walked = 0
    for caller in callers:
        headers = await caller.headers()
        for (method, path), declared in table.items():
            if declared.permission is None:
                continue  # public by design: covered by their own tests
            walked += 1
            status, text = await _call(client, caller, method, path, a, ids, allocated, headers)
            want = expected(caller, declared.permission, path)
            ok = status == want if want is not None else status not in (-1, 401, 403, 404)
            if want is None and status == 404 and "{" not in path:
                ok = True  # an object of the caller's own ISP it has not got (B's logo)
            if not ok or status >= 500:
                failures.append(f"{caller.name}: {method} {path} -> {status}, want "
                                f"{want or 'through'} ({declared.permission}): {text}")  # fmt: skip
    assert walked > 400
    assert not failures, f"{len(failures)} answers differ from the table:\n" + "\n".join(failures)


async def test_a_tech_lists_only_allocated_routers_and_their_sessions(client):
    a = await make_world(client)
    callers, _, _ = await _callers(client, a)
    by_name = {c.name: c for c in callers}
    # A Disconnect on A's router, so the Disconnect/CoA log has a row of it.
    url = f"/api/v1/sessions/{a.session_ids[0]}/disconnect"
    assert (await client.post(url, headers=a.headers)).status_code == 202
    for name, sees in [("tech A", True), ("tech A, not allocated", False), ("support A", True)]:
        headers = await by_name[name].headers()
        if name != "support A":
            routers = await client.get("/api/v1/routers", headers=headers)
            health = await client.get("/api/v1/routers/health", headers=headers)
            assert ([r["id"] for r in routers.json()] == [a.router.id]) is sees, routers.text
            assert ([r["id"] for r in health.json()] == [a.router.id]) is sees, health.text
        listed = await client.get("/api/v1/sessions?live=false", headers=headers)
        assert listed.status_code == 200
        assert ({s["id"] for s in listed.json()} == set(a.session_ids)) is sees, listed.text
        log = await client.get("/api/v1/sessions/control", headers=headers)
        assert ({c["router_id"] for c in log.json()} == {a.router.id}) is sees, log.text
