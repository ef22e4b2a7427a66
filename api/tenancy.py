"""Tenant scoping in one place: who is asking (Principal, or a platform Operator), which tenant
they act for, what their role allows (the table is api/permissions.py; each route declares its
one permission with require() or says it is public()), the base statement every repository
builds from (scoped(), in_tenant(), tenant_sql()), and the router scope next to it (router_scope(),
principal_sql()): a tech sees only the routers allocated to them."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import ColumnElement, Select, TextClause, or_, select, text, true
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from api import csrf, staff_sessions
from api.config import get_settings
from api.deps import SessionDep, client_ip
from api.errors import Forbidden, Unauthorized
from api.models import (
    ApiToken,
    PlatformOperator,
    Router,
    StaffRouter,
    StaffUser,
    StaffZone,
    Tenant,
    Zone,
)
from api.permissions import P, allows
from api.staff_sessions import StaffSession

M = TypeVar("M")


def scoped(model: type[M], tenant_id: int) -> Select[M]:
    """`SELECT model WHERE tenant_id = :tenant_id`: every tenant-owned query starts here."""
    return select(model).where(in_tenant(model, tenant_id))


def in_tenant(model: type[Any], tenant_id: int) -> ColumnElement[bool]:
    """The tenant condition on one model, for the statements `scoped()` does not build: an
    UPDATE or DELETE (`update(Voucher).where(in_tenant(Voucher, t), ...)`), or a SELECT of
    some columns or of several models, each named with its own condition."""
    return model.tenant_id == tenant_id  # type: ignore[no-any-return]


_SCOPE = re.compile(r"\{tenant(?::([A-Za-z_][A-Za-z0-9_]*))?\}")


def tenant_sql(tenant_id: int, sql: str) -> TextClause:
    """SQL text on tenant-owned tables, for where SQL reads better than the ORM (locks,
    `ON CONFLICT`, CTEs, the money path). The statement says where each tenant condition goes:
    `{tenant:r}` becomes `r.tenant_id = :tenant_id` (`{tenant}` the unqualified column) and the
    tenant is bound here, so a query cannot leave it out nor be handed another ISP's id; inserts
    write `:tenant_id` for the column's value. Every tenant query in the services starts here or
    from `scoped()`; `tests/test_layout.py` fails on any other."""
    if not _SCOPE.search(sql) and ":tenant_id" not in sql:
        raise ValueError("a tenant statement names its scope: {tenant} or {tenant:alias}")

    def condition(match: re.Match[str]) -> str:
        alias = match.group(1)
        return f"{alias}.tenant_id = :tenant_id" if alias else "tenant_id = :tenant_id"

    return text(_SCOPE.sub(condition, sql)).bindparams(tenant_id=tenant_id)


@dataclass(frozen=True)
class Operator:
    """A platform operator, on the platform's own host; never a Principal inside an ISP."""

    operator_id: int
    email: str
    role: str = "operator"


@dataclass(frozen=True)
class Principal:
    staff_id: int | None
    tenant_id: int
    email: str
    role: str
    # An API token's own permissions (its "role" is "token"); None for people, whose role says.
    permissions: frozenset[str] | None = None

    @classmethod
    def cli(cls, tenant_id: int) -> Principal:
        """An operator at the command line: full rights, audited as actor "cli"."""
        return cls(staff_id=None, tenant_id=tenant_id, email="cli", role="owner")

    @property
    def allocated_only(self) -> bool:
        """A tech sees only the routers allocated to them (and what hangs off them)."""
        return self.role == "tech"


# ------------------------------------------------------------------ router scope (techs)

# A tech's routers: those allocated to them, and those in a zone allocated to them or below one,
# in their own tenant.
_ALLOCATED = (
    "SELECT sr.router_id FROM staff_router sr"
    " WHERE sr.staff_id = :scope_staff_id AND sr.tenant_id = :tenant_id"
    " UNION SELECT zr.id FROM router zr"
    " JOIN zone zz ON zz.id = zr.zone_id AND zz.tenant_id = :tenant_id"
    " JOIN staff_zone sz ON zz.path @> ARRAY[sz.zone_id]"
    " WHERE sz.staff_id = :scope_staff_id AND sz.tenant_id = :tenant_id"
    " AND zr.tenant_id = :tenant_id"
)
_ROUTER_SCOPE = re.compile(r"\{routers:([A-Za-z_][A-Za-z0-9_.]*)\}")


def router_scope(principal: Principal, router_id: Any) -> ColumnElement[bool]:
    """The condition "this router is the principal's to see", on a router id column: always
    true for owners, admins and support; for a tech, allocated to them. Every query on routers
    and what hangs off them (sessions, Disconnect/CoA, router health) adds it next to the tenant
    scope, so a tech gets 404 on the rest of the ISP exactly as on another ISP's data."""
    if not principal.allocated_only:
        return true()
    allocated = select(StaffRouter.router_id).where(
        StaffRouter.staff_id == principal.staff_id, StaffRouter.tenant_id == principal.tenant_id
    )
    in_zones = select(Router.id).where(
        Router.tenant_id == principal.tenant_id, Router.zone_id.in_(_allocated_zones(principal))
    )
    return router_id.in_(allocated.union(in_zones))  # type: ignore[no-any-return]


def _allocated_zones(principal: Principal) -> Select[int]:
    """The zones allocated to a tech and every zone below them (a zone's path holds its
    ancestors, so one containment test per allocation)."""
    return (
        select(Zone.id)
        .join(StaffZone, Zone.path.contains(array([StaffZone.zone_id])))
        .where(
            StaffZone.staff_id == principal.staff_id,
            StaffZone.tenant_id == principal.tenant_id,
            Zone.tenant_id == principal.tenant_id,
        )
    )


def zone_scope(principal: Principal, zone_id: Any) -> ColumnElement[bool]:
    """The condition "this zone is the principal's to see": for a tech, a zone allocated to
    them or below one; for everyone else, always true."""
    if not principal.allocated_only:
        return true()
    return zone_id.in_(_allocated_zones(principal))  # type: ignore[no-any-return]


def subscriber_scope(principal: Principal, zone_id: Any, router_id: Any) -> ColumnElement[bool]:
    """The condition "this subscriber is the principal's to see": for a tech, one in their
    zones (and below), or on one of their routers (what hangs off it); for everyone else, always
    true. Like router_scope, the rest of the ISP is then 404 to them."""
    if not principal.allocated_only:
        return true()
    return or_(zone_scope(principal, zone_id), router_scope(principal, router_id))


def principal_sql(principal: Principal, sql: str) -> TextClause:
    """`tenant_sql()` for the principal's tenant, where `{routers:expr}` also becomes the router
    scope on the router id expression `expr` (see router_scope)."""
    limited = principal.allocated_only

    def condition(match: re.Match[str]) -> str:
        return f"{match.group(1)} IN ({_ALLOCATED})" if limited else "true"

    statement = tenant_sql(principal.tenant_id, _ROUTER_SCOPE.sub(condition, sql))
    return statement.bindparams(scope_staff_id=principal.staff_id) if limited else statement


def allowed(principal: Principal, permission: str) -> bool:
    if principal.permissions is not None:
        return permission in principal.permissions
    return allows(principal.role, permission)


def subdomain_slug(request: Request) -> str | None:
    """`demo` for Host `demo.<base_domain>[:port]`; None for any other host."""
    host = request.headers.get("host", "").split(":", 1)[0].strip().lower().rstrip(".")
    suffix = "." + get_settings().base_domain.lower()
    if not host.endswith(suffix):
        return None
    slug = host[: -len(suffix)]
    return slug if slug and "." not in slug else None


def portal_url(slug: str, scheme: str) -> str:
    """An ISP's portal as phones reach it, for things made ahead of a visit (voucher sheets,
    router scripts): https in production, otherwise the scheme the request came in on."""
    settings = get_settings()
    scheme = "https" if settings.environment == "production" else scheme
    return f"{scheme}://{slug}.{settings.base_domain}/hotspotportal"


def admin_url(slug: str, page: str, scheme: str, fragment: str = "") -> str:
    """A page of an ISP's dashboard, for links sent ahead of a visit (invitations, resets). A
    one-time token goes in the fragment, which browsers never send to a server or a Referer."""
    settings = get_settings()
    scheme = "https" if settings.environment == "production" else scheme
    return f"{scheme}://{slug}.{settings.base_domain}/admin/{page}" + (
        f"#{fragment}" if fragment else ""
    )


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class MustEnrol(Forbidden):
    """A login that may do nothing but set up a second factor (its ISP's rule, or an operator
    without an authenticator)."""


SESSION_COOKIE = "mnetifi_session"
_NOT_SIGNED_IN = "Missing, invalid or expired token"


def presented_session(request: Request) -> tuple[str | None, bool]:
    """The login session id the request carries, and whether it came in the cookie (then a
    state-changing request must also carry the session's CSRF token)."""
    if token := bearer_token(request):
        return token, False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


async def staff_session(
    request: Request, *, complete: bool = True, enrolling: bool = False
) -> StaffSession:
    """The live staff session of the request (from the Authorization header or the cookie),
    CSRF-checked when it came in the cookie. `complete`: its login passed every factor;
    `enrolling`: or it is a login the ISP sends to set up a second factor first."""
    sid, from_cookie = presented_session(request)
    found = await staff_sessions.load(sid, client_ip(request)) if sid else None
    if found is None:
        raise Unauthorized(_NOT_SIGNED_IN)
    if from_cookie:
        await csrf.check(request, found.csrf)
    if complete and found.stage == "second_factor":
        raise Unauthorized("Finish signing in: enter the code of your second factor")
    if complete and found.stage == "enrol" and not enrolling:
        raise MustEnrol(
            "A second factor is required: set one up before anything else"
            + ("" if found.tenant_id is None else " (your ISP's rule)")
        )
    return found


async def current_principal(
    request: Request, session: SessionDep, *, enrolling: bool = False
) -> Principal:
    """The ISP staff member behind the session (or the integration behind an API token). Role
    and active are read from the database on every request (one primary-key lookup), so a role
    change or a deactivation takes effect on the person's next request, whatever their session
    says; their sessions are also ended at once (api.staff.service). `enrolling`: a login that
    must set up a second factor first is let through (to the routes that do that)."""
    sid, _ = presented_session(request)
    if sid is not None and sid.startswith(TOKEN_PREFIX):
        return await _token_principal(request, session, sid)
    found = await staff_session(request, enrolling=enrolling)
    if found.tenant_id is None:
        raise Forbidden("Platform operators have no access to an ISP's data")
    # The person and their ISP in one query.
    stmt = (
        scoped(StaffUser, found.tenant_id)
        .add_columns(Tenant)
        .join(Tenant, Tenant.id == StaffUser.tenant_id)
        .where(StaffUser.id == found.staff_id)
    )
    row = (await session.execute(stmt)).first()
    slug = subdomain_slug(request)
    if row is not None and slug is not None and slug != row.Tenant.slug:
        raise Forbidden("This token belongs to another ISP than this address")
    if row is None or not row.StaffUser.active or not row.Tenant.active:
        raise Unauthorized("This account is deactivated or no longer exists")
    staff = row.StaffUser
    return Principal(
        staff_id=staff.id, tenant_id=staff.tenant_id, email=staff.email, role=staff.role
    )


TOKEN_PREFIX = "mnt_"  # noqa: S105 - marks an API token (api.auth.tokens), not a secret


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def find_token(session: AsyncSession, presented: str) -> ApiToken | None:
    """The live API token presented, of whichever ISP (a token names its ISP, like a login's
    e-mail and ISP do), its last use recorded at most once a minute."""
    if not presented.startswith(TOKEN_PREFIX) or len(presented) > 100:
        return None
    found = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_hash(presented), ApiToken.revoked_at.is_(None)
        )
    )
    if found is not None and (
        found.last_used_at is None or found.last_used_at < datetime.now(UTC) - timedelta(minutes=1)
    ):
        found.last_used_at = datetime.now(UTC)
        await session.flush()
    return found


async def _token_principal(request: Request, session: AsyncSession, token: str) -> Principal:
    """An integration's API token: it acts for its ISP with the permissions it was given (never
    more than its creator's role held), under its own name."""
    found = await find_token(session, token)
    if found is None:
        raise Unauthorized(_NOT_SIGNED_IN)
    tenant = await session.get(Tenant, found.tenant_id)
    slug = subdomain_slug(request)
    if tenant is None or not tenant.active or (slug is not None and slug != tenant.slug):
        raise Forbidden("This token belongs to another ISP than this address")
    permissions = frozenset(found.permissions)
    if found.created_by is not None:
        # A token never outlasts its creator's standing: deactivated, it stops; demoted, it
        # keeps only what the new role may do.
        creator = await session.get(StaffUser, found.created_by)
        if creator is None or not creator.active or creator.tenant_id != found.tenant_id:
            raise Unauthorized("This token's creator no longer has access; make a new token")
        permissions = frozenset(p for p in permissions if allows(creator.role, p))
    return Principal(
        staff_id=None,
        tenant_id=found.tenant_id,
        email=f"token:{found.name}",
        role="token",
        permissions=permissions,
    )


async def current_operator(
    request: Request, session: SessionDep, *, enrolling: bool = False
) -> Operator:
    """A platform operator (a session without an ISP), re-read from the database on every
    request like staff are. `enrolling`: also a login that must set up its authenticator."""
    sid, _ = presented_session(request)
    if sid is not None and sid.startswith(TOKEN_PREFIX):
        raise Forbidden("This is for platform operators only")
    found = await staff_session(request, enrolling=enrolling)
    if found.tenant_id is not None:
        raise Forbidden("This is for platform operators only")
    if subdomain_slug(request) is not None:
        raise Forbidden("Platform operators sign in on the platform's own host, not an ISP's")
    operator = await session.get(PlatformOperator, found.staff_id)
    if operator is None or not operator.active:
        raise Unauthorized("This account is deactivated or no longer exists")
    return Operator(operator_id=operator.id, email=operator.email)


class Declared:
    """What a route declares: its one permission, or why it is public. A marker the route walk
    (tests/test_permissions.py) reads from each route's dependencies."""

    permission: str | None = None
    public_reason: str | None = None


class Require(Declared):
    def __init__(self, permission: P, enrolling: bool = False) -> None:
        self.permission = permission
        self.enrolling = enrolling

    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = await current_principal(request, session, enrolling=self.enrolling)
        if not allowed(principal, self.permission or ""):
            raise Forbidden(f"Your role ({principal.role}) may not do this ({self.permission})")
        return principal


class _RequirePlatform(Declared):
    def __init__(self, permission: P, enrolling: bool = False) -> None:
        self.permission = permission
        self.enrolling = enrolling

    async def __call__(self, request: Request, session: SessionDep) -> Operator:
        operator = await current_operator(request, session, enrolling=self.enrolling)
        if not allows(operator.role, self.permission or ""):
            raise Forbidden(f"Your role ({operator.role}) may not do this ({self.permission})")
        return operator


class _Public(Declared):
    def __init__(self, reason: str) -> None:
        self.public_reason = reason

    async def __call__(self) -> None:
        return None


def require(permission: P) -> Require:
    """Dependency: the ISP staff member asking, if their role grants `permission` (an ISP
    permission; operators get 403)."""
    if permission.startswith("platform:"):
        raise ValueError("platform permissions are declared with require_platform()")
    return Require(permission)


def require_person(*, enrolling: bool = False) -> Require:
    """Dependency: a person signed in (P.SELF), never an API token: their own account, second
    factor and sessions. `enrolling`: also a login that must set up a second factor first."""
    return _RequirePerson(P.SELF, enrolling)


class _RequirePerson(Require):
    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal = await super().__call__(request, session)
        if principal.staff_id is None:
            raise Forbidden("An API token has no account of its own; sign in as a person")
        return principal


def require_platform(permission: P, *, enrolling: bool = False) -> _RequirePlatform:
    """Dependency: the platform operator asking, if their role grants `permission`.
    `enrolling`: also an operator whose login must first set up the authenticator."""
    if not permission.startswith("platform:"):
        raise ValueError("ISP permissions are declared with require()")
    return _RequirePlatform(permission, enrolling)


def public(reason: str) -> _Public:
    """Declares a route public by design (login, the portal, Daraja's hooks, health...)."""
    return _Public(reason)
