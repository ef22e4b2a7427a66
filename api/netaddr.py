"""Client addresses behind reverse proxies, and address allowlists."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def networks(text: str) -> tuple[Network, ...]:
    """'1.2.3.4, 10.0.0.0/8' -> networks; raises ValueError naming a bad entry."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an address or network: {item!r}") from exc
    return tuple(out)


_MAC = re.compile(r"^[0-9A-F]{2}([:-][0-9A-F]{2}){5}$")


def parse_mac(text: str | None) -> str | None:
    """A MAC address as RouterOS writes it (AA:BB:CC:DD:EE:FF), or None if it is not one."""
    mac = (text or "").strip().upper()
    return mac.replace("-", ":") if _MAC.match(mac) else None


def parse_ip(text: str | None) -> str | None:
    """The address in canonical form, or None if it is not one."""
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def contains(nets: tuple[Network, ...], ip: str | None) -> bool:
    if ip is None:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None, trusted: str) -> str | None:
    """Who is really asking. X-Forwarded-For is believed only when the peer is a trusted proxy,
    and only as far back as the chain of trusted proxies goes: the right-most address that is
    not one of ours is the client (anything left of it could be made up by the client)."""
    address = parse_ip(peer)
    proxies = networks(trusted)
    if address is None or not contains(proxies, address) or not forwarded_for:
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop_ip = parse_ip(hop)
        if hop_ip is None:
            return address  # unreadable chain: trust only what we saw
        address = hop_ip
        if not contains(proxies, hop_ip):
            return hop_ip
    return address


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, as the audit log records it (see api.deps.ClientMeta)."""

    ip: str | None = None
    user_agent: str | None = None
