"""The route walker over the dashboard (/admin, server-rendered pages): tenant B's owner, signed in
with the dashboard's own cookie session on B's own address, asks every page and posts every form
with A's ids (in the path, the query or the form), as someone editing an address or a form by
hand would. Each must answer 404 (or 403) without showing any of A's data, and A's objects must
be as they were. The routes come from the app: a new /admin route with a path parameter, or a
form this file does not know, fails the walk until it is taught here."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from api.main import create_app
from api.models import Voucher
from tests.factories import PASSWORD, count
from tests.radius.conftest import sql
from tests.test_staff_login import _from
from tests.test_tenant_isolation import World, make_world, snapshot

ADMIN = "/admin"
# Signing in and out: nobody is signed in yet, or it is the caller's own session. Covered by
# test_admin_pages.py and test_staff_login.py (a link or a login on another ISP's address).
SIGN_IN = {
    "/admin/login",
    "/admin/login/code",
    "/admin/login/code/resend",
    "/admin/logout",
    "/admin/forgot",
    "/admin/accept-invite",
    "/admin/reset-password",
    "/admin/language/{lang}",  # a cookie of the browser's: no ISP's data behind it
}
# Forms that make or change only the caller's own ISP's things or account and name no other
# object: as B they can only reach B's (the snapshot shows A's unchanged). Not posted.
OWN_FORMS = {
    "/admin/account/password",
    "/admin/account/totp",
    "/admin/account/totp/confirm",
    "/admin/fair-usage",
    "/admin/messages/limits",
    "/admin/messages/rules",
    "/admin/messages/offers",  # B's own offer, to B's consenting customers
    "/admin/messages/offers/quiet",
    "/admin/messages/offers/opt-out",  # a phone's consent is per ISP: B's own row
    "/admin/network/pools",  # B's own IP pool (a network, no reference)
    "/admin/network/plans",  # B's own monthly plan
    "/admin/plans",
    "/admin/routers",
    "/admin/settings",
    "/admin/settings/mpesa",
    "/admin/settings/mpesa/test",
    "/admin/settings/sms",
    "/admin/settings/sms/remove",
    "/admin/settings/sms/test",
    "/admin/settings/branding",
    "/admin/settings/branding/logo",
    "/admin/settings/branding/logo/remove",
    "/admin/staff/invite",
    "/admin/staff/policy",
    "/admin/tokens",
}
# Forms naming another object in a field: posted with A's, in an otherwise valid form.
FORMS: dict[str, Callable[[World], dict[str, Any]]] = {
    "/admin/vouchers/batches": lambda a: {"plan_id": a.plan.id, "count": 2},
    "/admin/promos": lambda a: {
        "code": "HIJACK" + secrets.token_hex(3).upper(),
        "kind": "fixed",
        "value": "1",
        "plan_id": a.plan.id,
    },  # fmt: skip
    "/admin/sessions/disconnect": lambda a: {"session_ids": a.session_ids},
    "/admin/payments/resolve": lambda a: {
        "receipt": a.sale["receipt"],
        "plan_id": a.plan.id,
        "reason": "walked",
    },
    "/admin/outages": lambda a: {
        "place": f"zone:{a.network['zone']['id']}",
        "message": "Hijacked outage",
    },
}
# Forms that make something of B's own naming one of A's objects in a field: a form re-shown
# saying that reference is not B's (400) is a refusal too, as in the API's walk. Each body is
# otherwise valid for B (B's plan, a fresh username).
REFERENCES: dict[str, Callable[[World, dict[str, Any]], list[dict[str, Any]]]] = {
    "/admin/zones": lambda a, _: [{"name": "hijacked", "parent_id": a.network["zone"]["id"]}],
    "/admin/subscribers": lambda a, own: [
        {
            "username": "hijacker-" + secrets.token_hex(3),
            "name": "B's",
            "kind": "pppoe",
            "plan_id": own["plan_id"],
        }
        | ref
        for ref in (
            {"zone_id": a.network["zone"]["id"]},
            {"plan_id": a.network["plan"]["id"]},
            {"router_id": a.router.id},
            {"kind": "static", "ip_address": f"{a.network['net']}.77", "mac": "02:00:00:00:00:77"},
        )
    ],
}
# Pages that read ids from their query: asked with A's, one at a time.
QUERIES: dict[str, Callable[[World], list[dict[str, Any]]]] = {
    "/admin/sessions": lambda a: [
        {"router_id": a.router.id, "all": "1"},
        {"voucher": a.codes[0], "all": "1"},
    ],
    "/admin/vouchers/find": lambda a: [{"code": a.codes[0]}],
}
# Searches of B's own pages by A's values: found nothing, shown nothing of A's (a 200).
SEARCHES: dict[str, Callable[[World], list[dict[str, Any]]]] = {
    "/admin/payments": lambda a: [{"find": a.sale["receipt"]}, {"find": a.sale["phone"]}],
}
# B's own pages that need a query to be shown at all.
OWN_QUERIES: dict[str, dict[str, str]] = {
    "/admin/settings/branding/preview": {"primary_color": "#123456", "language": "en"},
}
# Valid form bodies for the actions on an object, so a 404 is about whose object it is.
BODIES: dict[str, Callable[[World], dict[str, Any]]] = {
    "/admin/routers/{router_id}": lambda a: {"name": "hijacked", "enabled": "false"},
    "/admin/plans/{plan_id}": lambda a: {"price": "999"},
    "/admin/vouchers/{code}/device-limit": lambda a: {"device_limit": "7"},
    "/admin/staff/{staff_id}/role": lambda a: {"role": "support"},
    "/admin/staff/{staff_id}/routers": lambda a: {"router_ids": [a.router.id]},
}
REFUSED = (403, 404)


def admin_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every dashboard route (newer FastAPI keeps included routers'
    routes behind the include instead of flattening app.routes)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        routes = [(r, r.path) for r in app.routes]
    else:
        routes = [(rc.original_route, rc.path) for rc in iter_route_contexts(app.routes)]
    for route, path in routes:
        if isinstance(route, APIRoute) and path.startswith(ADMIN):
            for method in sorted(route.methods):
                yield method, path


def _params(path: str) -> list[str]:
    return [p.split("}")[0] for p in path.split("{")[1:]]


def own_session_key(world: World) -> str:
    """The key "my sessions" shows for the world owner's API login (a sha256 of the token)."""
    return hashlib.sha256(world.headers["Authorization"].split()[-1].encode()).hexdigest()


def ids_of(a: World) -> dict[str, str]:
    return a.params | {"session_key": own_session_key(a)}


def _not_asked(method: str, path: str) -> bool:
    return path in SIGN_IN or (method == "POST" and path in OWN_FORMS)


def uncovered(app: FastAPI, ids: dict[str, str]) -> list[str]:
    """Dashboard routes the walk does not know how to ask with A's ids."""
    out = []
    for method, path in admin_routes(app):
        if _not_asked(method, path):
            continue
        unknown = [p for p in _params(path) if p not in ids]
        if unknown:
            out.append(f"{method} {path}: unknown path parameter(s) {unknown}; teach this test")
        elif method != "GET" and "{" not in path and path not in FORMS | REFERENCES:
            out.append(f"{method} {path}: a form not covered by the tenant walk; teach it")
    return out


class Dashboard:
    """B's owner in a browser of their own: the session cookie, and the CSRF token its pages
    carry, on B's own address."""

    def __init__(self, client: httpx.AsyncClient, host: str) -> None:
        self.client, self.host, self.csrf = client, {"host": host}, ""
        self.own: dict[str, Any] = {}  # B's own objects, for forms that need one of them

    async def sign_in(self, email: str) -> None:
        page = await self.client.get("/admin/login", headers=self.host)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token, page.text
        body = {"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
        signed = await self.client.post("/admin/login", data=body, headers=self.host)
        assert signed.status_code == 303 and signed.headers["location"] == "/admin/", signed.text
        home = await self.client.get("/admin/", headers=self.host)
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
        assert home.status_code == 200 and found, home.text
        self.csrf = found.group(1)

    async def ask(
        self, method: str, url: str, *, query: dict[str, Any] | None = None,
        form: dict[str, Any] | None = None,
    ) -> httpx.Response:  # fmt: skip
        if method == "GET":
            return await self.client.get(url, params=query, headers=self.host)
        data = (form or {}) | {"csrf_token": self.csrf}
        return await self.client.post(url, data=data, headers=self.host)


def _leaks(response: httpx.Response, a: World, asked: str) -> list[str]:
    """A's values in B's answer, but those B's request carried itself (a page may repeat the
    code it was asked for, in its search box or its "not found" sentence)."""
    return sorted(m for m in a.markers if m in response.text and m not in asked)


async def _attack(
    dash: Dashboard, method: str, path: str, a: World, query: dict[str, Any] | None = None
) -> str | None:
    form = (FORMS.get(path) or BODIES.get(path) or (lambda _: {}))(a) if method == "POST" else None
    url = path.format(**ids_of(a))
    response = await dash.ask(method, url, query=query, form=form)
    asked = f"{url} {query} {form}"
    if response.status_code == 303 and query is not None:
        # A search that leads on to the object's page: that page must refuse too.
        location = response.headers["location"]
        response = await dash.ask("GET", location)
        asked += f" {location}"
    leaks = _leaks(response, a, asked)
    if leaks:
        return f"{response.status_code}, shows A's {leaks}"
    if "{" in path or (query is not None and path in QUERIES) or (form and path in FORMS):
        if response.status_code not in REFUSED:
            return f"with A's ids: {response.status_code} {response.text[:300]}"
    elif response.status_code != 200:
        return f"B's own page: {response.status_code} {response.text[:300]}"
    return None


async def _refer(dash: Dashboard, path: str, a: World) -> list[str]:
    """B's own form naming A's objects, one reference at a time: refused, nothing of A's shown."""
    failures = []
    for form in REFERENCES[path](a, dash.own):
        response = await dash.ask("POST", path, form=form)
        leaks = _leaks(response, a, f"{path} {form}")
        if response.status_code not in (400, 403, 404, 422) or leaks:
            failures.append(f"POST {path} {form}: {response.status_code}, leaks {leaks}")
    return failures


async def walk(app: FastAPI, dash: Dashboard, a: World) -> tuple[int, list[str]]:
    """Asks every dashboard route as B with A's ids; returns (routes walked, failures)."""
    failures = uncovered(app, ids_of(a))
    walked = 0
    for method, path in admin_routes(app):
        if _not_asked(method, path) or any(f.startswith(f"{method} {path}:") for f in failures):
            continue
        if method == "POST" and path in REFERENCES:
            walked += 1
            failures += await _refer(dash, path, a)
            continue
        queries: list[dict[str, Any] | None] = [None]
        if method == "GET" and path in QUERIES:
            queries = list(QUERIES[path](a))
        elif method == "GET" and path in SEARCHES:
            queries = [OWN_QUERIES.get(path), *SEARCHES[path](a)]
        elif method == "GET" and path in OWN_QUERIES:
            queries = [OWN_QUERIES[path]]
        for query in queries:
            walked += 1
            failure = await _attack(dash, method, path, a, query)
            if failure:
                failures.append(f"{method} {path} {query or ''}: {failure}")
    return walked, failures


async def test_another_isps_owner_reaches_nothing_of_a_through_the_dashboard(app, client):
    a, b = await make_world(client), await make_world(client)
    before = await snapshot(client, a)
    [owner_b] = await sql("SELECT email FROM staff_user WHERE id = :s", s=b.staff_id)
    async with _from(app) as browser:
        dash = Dashboard(browser, b.host["host"])
        dash.own = {"plan_id": b.network["plan"]["id"]}
        await dash.sign_in(owner_b["email"])
        walked, failures = await walk(app, dash, a)
    assert walked >= 35, f"only {walked} dashboard routes walked: is the route listing broken?"
    assert not failures, "Dashboard tenant isolation failures:\n" + "\n".join(failures)
    assert await snapshot(client, a) == before, "tenant B changed tenant A's data"
    me = await client.get("/api/v1/auth/me", headers=a.headers)
    assert me.status_code == 200, "B ended A's owner's session"
    assert await count(Voucher, tenant_id=b.tenant_id, source="batch") == 3, (
        "B got vouchers from A's plan"
    )
    for table, mine in (("subscriber", b.network["subscriber"]), ("zone", b.network["zone"])):
        rows = await sql(f"SELECT id FROM {table} WHERE tenant_id = :t", t=b.tenant_id)  # noqa: S608
        assert [r["id"] for r in rows] == [mine["id"]], f"B made a {table} with A's references"
    b_promos = await sql("SELECT id FROM promo_code WHERE tenant_id = :t", t=b.tenant_id)
    assert [p["id"] for p in b_promos] == [b.promo["id"]], "B made a promo for A's plan"


def test_the_dashboard_walk_refuses_routes_it_does_not_know():
    app = create_app()
    extra = APIRouter(prefix="/admin")

    @extra.get("/things/{thing_id}")
    async def thing_page(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    @extra.post("/things")
    async def make_thing() -> None:
        return None

    app.include_router(extra)
    ids = {"router_id": "1", "plan_id": "1", "code": "ABC123", "promo_id": "1", "rule_id": "1",
           "staff_id": "1", "invite_id": "1", "token_id": "1", "session_key": "k",
           "outage_id": "1", "zone_id": "1", "pool_id": "1", "subscriber_plan_id": "1",
           "subscriber_id": "1"}  # fmt: skip
    assert uncovered(app, ids) == [
        "GET /admin/things/{thing_id}: unknown path parameter(s) ['thing_id']; teach this test",
        "POST /admin/things: a form not covered by the tenant walk; teach it",
    ]
    assert uncovered(create_app(), ids) == []
