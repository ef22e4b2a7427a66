"""API tokens for integrations (a billing system, a monitoring script): named, limited to chosen
permissions, shown once, stored as a SHA-256 hash (256 random bits: a slow hash adds nothing),
revocable, with the time of their last use.

A token can never hold a permission its creator's role lacks, and it acts as the ISP, not as a
person: it is audited under its own name ("token:<name>")."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.auth import repository
from api.errors import BadRequest, Conflict, NotFound
from api.models import ApiToken
from api.tenancy import TOKEN_PREFIX as PREFIX
from api.tenancy import Principal, allowed, token_hash


async def create(
    session: AsyncSession, principal: Principal, name: str, permissions: list[str],
    meta: audit.Meta = None,
) -> tuple[str, ApiToken]:  # fmt: skip
    """The new token (to show once) and its record."""
    name = name.strip()
    if not name or len(name) > 80:
        raise BadRequest("Give the token a name of 1 to 80 characters")
    wanted = sorted(set(permissions))
    if not wanted:
        raise BadRequest("Choose at least one permission for the token")
    beyond = [p for p in wanted if not allowed(principal, p)]
    if beyond:
        raise BadRequest(f"A token cannot hold what your role cannot do: {', '.join(beyond)}")
    secret = PREFIX + secrets.token_urlsafe(32)
    try:
        async with session.begin_nested():
            token = await repository.insert_token(
                session,
                principal.tenant_id,
                name=name,
                token_hash=token_hash(secret),
                prefix=secret[: len(PREFIX) + 6],
                permissions=wanted,
                created_by=principal.staff_id,
            )
    except IntegrityError:
        raise Conflict(f"There is already a token named {name!r}") from None
    await audit.record(
        session, principal, "api_token.create", "api_token", token.id,
        {"name": name, "permissions": wanted}, meta,
    )  # fmt: skip
    return secret, token


async def list_(session: AsyncSession, principal: Principal) -> list[ApiToken]:
    return await repository.tokens(session, principal.tenant_id)


async def revoke(
    session: AsyncSession, principal: Principal, token_id: int, meta: audit.Meta = None
) -> ApiToken:
    token = await repository.revoke_token(session, principal.tenant_id, token_id)
    if token is None:
        raise NotFound("No such token")
    await audit.record(
        session, principal, "api_token.revoke", "api_token", token.id, {"name": token.name}, meta
    )
    return token
