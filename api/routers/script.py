"""The RouterOS v7 script that onboards one router in a single paste: its RADIUS servers (two
or more, for failover) with its own secret, `/radius incoming` for Disconnect and CoA, the
hotspot profile on RADIUS, the walled garden for the ISP's portal, the ISP's login pages, PPPoE
on RADIUS and the expired subscribers' pool, address list and plain-HTTP redirect.

Every value that is not a number or an IP address is written as a RouterOS string literal
(`quote`), so a router name or secret cannot end its string and start a command of its own. The
script is a function of the router, its ISP and the settings only (no timestamps), so a test can
compare it field by field. It carries the router's secret: each download is audited."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.config import RadiusServer, get_settings
from api.errors import NotFound
from api.models import Router, Tenant
from api.routers import service
from api.tenancy import Principal, portal_url

TAG = "mnetifi"  # comment= on every entry the script adds, so running it again replaces them
# RouterOS string escapes (Manual:Scripting, "Constant Escape Sequences"): `$` would substitute
# a variable or a command ($[...]), `?` prints help when pasted into a terminal.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "$": "\\$", "?": "\\?"}


def quote(value: str) -> str:
    """`value` as a RouterOS double-quoted string. The four special characters get a backslash;
    control characters, DEL and non-ASCII bytes (UTF-8) are written as `\\HH`, so the script is
    ASCII and one physical line per command whatever the input."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\{byte:02X}" for byte in ch.encode())
    return '"' + "".join(out) + '"'


PROXY_PORT = 8089  # the router's web proxy, which answers expired subscribers' plain HTTP
PORTAL_LIST = "mnetifi-portal"  # the ISP's portal host, resolved by the router
EXPIRED_RANGES = "100.64.255.2-100.64.255.254"  # a suggestion: change it to suit the network


def render(
    router: Router, *, slug: str, portal: str, servers: Sequence[RadiusServer],
    expired_pool: str = "expired", address_list: str = "expired",
) -> str:  # fmt: skip
    host = f"{slug}.{get_settings().base_domain}"
    lines = [
        f"# mnetifi: onboarding of router {router.id} {quote(router.name)} of ISP {slug}, "
        "RouterOS v7.",
        "# Paste it into a terminal, or upload it and /import it. It holds this router's RADIUS",
        "# secret: keep it like a password. Running it again replaces what it added before.",
        "",
        *_radius(router, servers),
        "",
        *_hotspot(host, portal),
        "",
        *_subscribers(host, expired_pool, address_list),
        "",
        "# Optional: the router's identity is sent as NAS-Identifier (a label in logs; mnetifi",
        "# knows the router by its address and secret, not by this).",
        f"# /system identity set name={quote(router.nas_identifier or router.name)}",
    ]
    return "\n".join(lines) + "\n"


def _radius(router: Router, servers: Sequence[RadiusServer]) -> list[str]:
    lines = [
        "# RADIUS servers, tried in this order: the next one answers when one is down. All share",
        "# one database. src-address must be this router's own address (its tunnel address) and",
        "# the one registered in mnetifi; behind NAT, drop src-address= and register the NAT's.",
    ]
    if len(servers) < 2:
        lines.append("# Only one server is configured (MNETIFI_RADIUS_SERVERS): no failover.")
    lines.append(f"/radius remove [find comment={quote(TAG)}]")
    source = getattr(router.ip_address, "ip", router.ip_address)  # INET may come as an interface
    lines += [
        f"/radius add service=hotspot,ppp,dhcp address={s.host} secret={quote(router.secret)} "
        f"src-address={source} authentication-port={s.auth_port} "
        f"accounting-port={s.acct_port} timeout=3s comment={quote(TAG)}"
        for s in servers
    ]
    lines += [
        "# Disconnect and CoA (ending or changing a session) arrive on this port, from a RADIUS",
        "# server's address, signed with this router's secret. Let UDP to it through any input",
        "# firewall.",
        f"/radius incoming set accept=yes port={router.coa_port}",
    ]
    return lines


def _hotspot(host: str, portal: str) -> list[str]:
    q = quote(TAG)
    return [
        "# Every hotspot profile logs in and accounts through RADIUS. The interim update interval",
        "# comes from the server (Acct-Interim-Interval); http-pap lets phones without",
        "# JavaScript log in with a voucher, CHAP is used whenever the page can.",
        "/ip hotspot profile set [find] use-radius=yes radius-accounting=yes "
        "radius-interim-update=received login-by=http-chap,http-pap,cookie "
        "radius-mac-format=XX:XX:XX:XX:XX:XX",
        "# Walled garden: before logging in, phones reach only the ISP's portal (its pages, the",
        "# M-Pesa purchase and its live status are all served there). The HTTP entry covers",
        "# plain HTTP by host name; the IP entry (resolved by the router) covers HTTPS.",
        "# No Safaricom host: the STK prompt reaches the phone over the mobile network and the",
        "# payment result reaches mnetifi from Safaricom's servers, so paying needs no WiFi.",
        "# Opening *.safaricom.co.ke would only let unpaid users browse those sites for free.",
        f"/ip hotspot walled-garden remove [find comment={q}]",
        f"/ip hotspot walled-garden add dst-host={quote(host)} comment={q}",
        f"/ip hotspot walled-garden ip remove [find comment={q}]",
        f"/ip hotspot walled-garden ip add action=accept dst-host={quote(host)} comment={q}",
        "# The ISP's login pages: login.html sends phones to the portal with what the router",
        "# knows; alogin.html returns them to it once online. If the hotspot profile uses",
        "# another html-directory (flash/hotspot on some models), change dst-path.",
        f"/tool fetch url={quote(portal + '/mikrotik/login.html')} dst-path=hotspot/login.html",
        f"/tool fetch url={quote(portal + '/mikrotik/alogin.html')} dst-path=hotspot/alogin.html",
    ]


def _subscribers(host: str, pool: str, address_list: str) -> list[str]:
    """PPPoE on RADIUS, and the expired state: RADIUS puts an expired subscriber in `pool` and
    `address_list`; their plain-HTTP traffic is redirected by the router's web proxy to the
    ISP's /expired page, the portal stays reachable (to pay), everything else is refused."""
    q, lst, portal = quote(TAG), quote(address_list), quote(PORTAL_LIST)
    return [
        "# Monthly subscribers: PPPoE logs in and accounts through RADIUS (static clients: set",
        "# use-radius=yes on their DHCP server). An expired subscriber is given the pool and",
        "# address list below; change the pool's range to one free on your network.",
        "/ppp aaa set use-radius=yes accounting=yes interim-update=0s",
        f"/ip pool remove [find comment={q}]",
        f"/ip pool add name={quote(pool)} ranges={EXPIRED_RANGES} comment={q}",
        f"/ip firewall address-list remove [find comment={q}]",
        f"/ip firewall address-list add list={portal} address={quote(host)} comment={q}",
        "# Plain HTTP from an expired subscriber goes to the router's web proxy, which answers",
        f"# with a redirect to {host}/expired (why, and how to pay). HTTPS cannot be redirected:",
        "# the browser would see a certificate that is not the site's, so it is refused and the",
        "# browser shows a connection error. Tell customers to open any http:// page.",
        f"/ip proxy set enabled=yes port={PROXY_PORT}",
        f"/ip proxy access remove [find comment={q}]",
        f"/ip proxy access add dst-host={quote(host)} action=allow comment={q}",
        f"/ip proxy access add action=redirect action-data={quote(host + '/expired')} comment={q}",
        f"/ip firewall nat remove [find comment={q}]",
        f"/ip firewall nat add chain=dstnat src-address-list={lst} dst-address-list=!{portal} "
        f"protocol=tcp dst-port=80 action=redirect to-ports={PROXY_PORT} comment={q}",
        "# Expired subscribers reach DNS and the ISP's portal (to pay), nothing else; nobody",
        "# else uses the proxy. Move these rules above your own accept rules if you have any.",
        f"/ip firewall filter remove [find comment={q}]",
        f"/ip firewall filter add chain=input protocol=tcp dst-port={PROXY_PORT} "
        f"src-address-list=!{lst} action=drop comment={q}",
        f"/ip firewall filter add chain=forward src-address-list={lst} dst-address-list={portal} "
        f"action=accept comment={q}",
        f"/ip firewall filter add chain=forward src-address-list={lst} protocol=udp dst-port=53 "
        f"action=accept comment={q}",
        f"/ip firewall filter add chain=forward src-address-list={lst} action=reject "
        f"reject-with=icmp-admin-prohibited comment={q}",
    ]


async def download(
    session: AsyncSession, principal: Principal, router_id: int, scheme: str, meta: audit.Meta
) -> str:
    """The script for one of the caller's routers (another ISP's is not found); audited."""
    router = await service.get_router(session, principal, router_id)
    tenant = await session.scalar(select(Tenant).where(Tenant.id == principal.tenant_id))
    if tenant is None:  # the ISP was deleted while this staff session lived
        raise NotFound("Router not found")
    script = render(
        router,
        slug=tenant.slug,
        portal=portal_url(tenant.slug, scheme),
        servers=get_settings().radius_server_list(),
        expired_pool=tenant.expired_pool,
        address_list=tenant.expired_address_list,
    )
    # Who took the secret, and when; the secret itself stays out of the log.
    await audit.record(
        session, principal, "router.script", "router", router.id, {"name": router.name}, meta
    )
    return script
