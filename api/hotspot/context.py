"""Who the portal is talking to: what the MikroTik router told us about the phone (from its
login.html redirect), and the portal's own address as the phone reaches it. (The ISP comes from
the Host header: service.isp_for.)"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from api.config import get_settings
from api.netaddr import client_address, parse_mac

_OCTAL = re.compile(r"\\([0-7]{3})")


def chap_hex(value: str | None) -> str:
    """RouterOS writes $(chap-id) and $(chap-challenge) as octal escapes ("\\354\\021..."); the
    browser needs the bytes (as hex) to compute the CHAP response."""
    if not value:
        return ""
    raw = _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), value)
    try:
        return raw.encode("latin-1").hex()
    except UnicodeEncodeError:
        return ""


def login_target(url: str | None) -> str | None:
    """The router's login URL ($(link-login-only)), if it can be one: http(s) to a private
    address or a local name. Anything else is dropped, so a crafted link cannot make the portal
    send a voucher code to someone else's server."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        base = get_settings().base_domain.lower()
        local = "." not in host or host.endswith((".lan", ".local", ".home.arpa", ".wifi"))
        return url if local and not host.endswith(base) else None
    return url if address.is_private or address.is_link_local else None


def router_context(request: Request) -> dict[str, Any]:
    """The phone and router as the RouterOS redirect described them (all optional)."""
    q = request.query_params
    mac = q.get("mac", "")
    return {
        "identity": q.get("identity", "")[:64],
        "mac": parse_mac(mac) or "",
        "ip": q.get("ip", "")[:45],
        "link_login_only": login_target(q.get("link-login-only")) or "",
        "link_orig": q.get("link-orig", "")[:500],
        "chap_id": chap_hex(q.get("chap-id")),
        "chap_challenge": chap_hex(q.get("chap-challenge")),
        "error": q.get("error", "")[:200],
    }


def portal_base(request: Request) -> str:
    """This ISP's portal URL as the phone reaches it (scheme from a trusted proxy if any)."""
    settings = get_settings()
    scheme = request.url.scheme
    peer = request.client.host if request.client else None
    if client_address(peer, "203.0.113.1", settings.trusted_proxies) != peer:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
    return f"{scheme}://{request.headers.get('host', '')}/hotspotportal"
