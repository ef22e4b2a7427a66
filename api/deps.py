"""Shared FastAPI dependencies."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import get_session

# scope="function": commit (or roll back) before the response is sent, so a failed commit is
# reported to the client and a 2xx means the data is there.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def client_ip(request: Request) -> str | None:
    """The peer address if it is an IP (the audit column is INET); None otherwise."""
    host = request.client.host if request.client else None
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


ClientIP = Annotated[str | None, Depends(client_ip)]

# Ids are PostgreSQL integers: a bigger number is a 422, not a database error.
INT32_MAX = 2_147_483_647
DbId = Annotated[int, Field(ge=1, le=INT32_MAX)]
IdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
