"""Shared FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import get_settings
from api.db import get_session
from api.limits import Caller
from api.netaddr import RequestMeta, client_address, parse_mac

# scope="function": commit (or roll back) before the response is sent, so a failed commit is
# reported to the client and a 2xx means the data is there.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str | None:
    """The client's address (through trusted proxies, see api.netaddr); None if the peer is not
    an IP (the audit column is INET)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_address(peer, forwarded, get_settings().trusted_proxies)


ClientIP = Annotated[str | None, Depends(client_ip)]


def client_meta(request: Request) -> RequestMeta:
    """The address and the user agent together, as the audit log records them."""
    return RequestMeta(client_ip(request), request.headers.get("user-agent"))


ClientMeta = Annotated[RequestMeta, Depends(client_meta)]


def client_device(request: Request) -> Caller:
    """A portal visitor: the address, and the phone's MAC as the router's redirect gave it to the
    portal page, which sends it back in X-Client-MAC (a header, so every method carries it).
    The MAC is only what the client says: limits keyed on it keep the address as a ceiling."""
    return Caller(client_ip(request), parse_mac(request.headers.get("x-client-mac")))


ClientDevice = Annotated[Caller, Depends(client_device)]

# Ids are PostgreSQL integers: a bigger number is a 422, not a database error.
INT32_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=INT32_MAX)]
IdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
