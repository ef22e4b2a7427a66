"""Tenant scoping in one place: who is asking (Principal), which tenant they act for, what their
role allows, and the base statement every repository builds from."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from sqlalchemy import Select, TextClause, select, text

from api.config import get_settings
from api.errors import Forbidden, Unauthorized
from api.security import load_session

M = TypeVar("M")


def scoped(model: type[M], tenant_id: int) -> Select[M]:
    """`SELECT model WHERE tenant_id = :tenant_id`: every tenant-owned query starts here."""
    return select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]


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
class Principal:
    staff_id: int | None
    tenant_id: int
    email: str
    role: str

    @classmethod
    def cli(cls, tenant_id: int) -> Principal:
        """An operator at the command line: full rights, audited as actor "cli"."""
        return cls(staff_id=None, tenant_id=tenant_id, email="cli", role="owner")


_READ = {"routers:read", "plans:read", "vouchers:read", "sessions:read"}
# vouchers:write (revoke, device-limit override) and the ISP's settings change what customers
# already paid for or how every router behaves: owners and admins only.
_ALL = _READ | {
    "routers:write",
    "plans:write",
    "vouchers:generate",
    "vouchers:write",
    "settings:read",
    "settings:write",
    "payments:read",
    "audit:read",
}
PERMISSIONS: dict[str, frozenset[str]] = {
    "owner": frozenset(_ALL),
    "admin": frozenset(_ALL),
    "tech": frozenset(_READ | {"routers:write"}),
    # Support answers "I paid but I'm not online": they see payments, not the M-Pesa account.
    "support": frozenset(_READ | {"vouchers:generate", "payments:read"}),
}


def allowed(principal: Principal, permission: str) -> bool:
    return permission in PERMISSIONS.get(principal.role, frozenset())


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


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def current_principal(request: Request) -> Principal:
    token = bearer_token(request)
    data = await load_session(token) if token else None
    if data is None:
        raise Unauthorized("Missing, invalid or expired token")
    slug = subdomain_slug(request)
    if slug is not None and slug != data.tenant_slug:
        raise Forbidden("This token belongs to another ISP than this address")
    return Principal(
        staff_id=data.staff_id, tenant_id=data.tenant_id, email=data.email, role=data.role
    )


def require(permission: str) -> Callable[[Request], Awaitable[Principal]]:
    """Dependency: the caller, if their role grants `permission`."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if not allowed(principal, permission):
            raise Forbidden(f"Your role ({principal.role}) may not do this ({permission})")
        return principal

    return dependency
