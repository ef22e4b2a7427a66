"""Who may do what: every permission a route can declare, and the one table mapping each role to
its permissions. Routes declare exactly one (`api.tenancy.require(P)`, or `api.tenancy.public()`
for what is public by design); tests/test_permissions.py walks every route with every role
against this table.

Besides the permission, a tech only ever sees the routers allocated to them (table
`staff_router`, or in a zone allocated to them, `staff_zone`, or below it) and what hangs off
those routers: `api.tenancy.router_scope()`; and the zones and subscribers of their zones:
`zone_scope()`, `subscriber_scope()`."""

from __future__ import annotations

from enum import StrEnum


class P(StrEnum):
    """Permission names (`area:verb`), as routes declare them and errors quote them."""

    SELF = "self"  # one's own login session: who am I, log out
    ROUTERS_READ = "routers:read"
    ROUTERS_WRITE = "routers:write"  # change a router, download its script (holds its secret)
    ROUTERS_MANAGE = "routers:manage"  # add or remove routers
    SESSIONS_READ = "sessions:read"  # who is online, the Disconnect/CoA log
    SESSIONS_WRITE = "sessions:write"  # disconnect one session
    PLANS_READ = "plans:read"
    PLANS_WRITE = "plans:write"
    VOUCHERS_READ = "vouchers:read"
    VOUCHERS_GENERATE = "vouchers:generate"  # sell: issue new vouchers
    VOUCHERS_WRITE = "vouchers:write"  # revoke, override limits, disconnect a voucher
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    PAYMENTS_READ = "payments:read"
    PAYMENTS_RESOLVE = "payments:resolve"  # give unclaimed or held money its package (audited)
    AUDIT_READ = "audit:read"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"  # invitations, roles, router allocations, deactivation
    STAFF_POLICY = "staff:policy"  # require a second factor of all staff (owners only)
    TOKENS = "tokens:manage"  # API tokens for integrations: create, list, revoke
    OFFERS = "offers:send"  # offers to consenting customers: compose, send, see, opt a phone out
    SUBSCRIBERS_READ = "subscribers:read"  # monthly subscribers (a tech: those in their zones)
    SUBSCRIBERS_WRITE = "subscribers:write"  # add, change, suspend, remove subscribers
    NETWORK_READ = "network:read"  # zones (a tech: theirs), IP pools, monthly plans
    NETWORK_WRITE = "network:write"  # zones, IP pools and monthly plans: add, change, remove
    PLATFORM_SELF = "platform:self"  # an operator's own session and authenticator
    PLATFORM_TENANTS = "platform:tenants"  # the platform operators' view of every ISP


ISP_ROLES = ("owner", "admin", "tech", "support")
PLATFORM_ROLES = ("operator",)

_ISP_ALL = frozenset(p for p in P if not p.startswith("platform:"))

# The table. Owners and admins hold the same permissions but one: only an owner decides the ISP's
# sign-in policy. What only an owner may do to another owner (demote, deactivate, make or invite
# an owner) is a rule of api/staff/service.py, not a permission.
# Support answers "I paid but I'm not online": sees vouchers, sessions and payments, sells
# vouchers (so sees the plans it sells), changes nothing else. A tech works on routers and their
# sessions (only the allocated ones: api.tenancy.router_scope), never money or settings.
# Operators run the platform from its own host: no permission inside any ISP's data (there is no
# audited "act as an ISP" yet; an operator token gets 403 on every ISP route).
ROLE_PERMISSIONS: dict[str, frozenset[P]] = {
    "operator": frozenset({P.PLATFORM_SELF, P.PLATFORM_TENANTS}),
    "owner":    _ISP_ALL,
    "admin":    _ISP_ALL - {P.STAFF_POLICY},
    "tech":     frozenset({P.SELF, P.ROUTERS_READ, P.ROUTERS_WRITE, P.SESSIONS_READ,
                           P.SESSIONS_WRITE, P.SUBSCRIBERS_READ, P.SUBSCRIBERS_WRITE,
                           P.NETWORK_READ}),
    "support":  frozenset({P.SELF, P.VOUCHERS_READ, P.VOUCHERS_GENERATE, P.SESSIONS_READ,
                           P.PAYMENTS_READ, P.PLANS_READ, P.SUBSCRIBERS_READ, P.NETWORK_READ}),
}  # fmt: skip


def allows(role: str, permission: str) -> bool:
    return permission in ROLE_PERMISSIONS.get(role, frozenset())
