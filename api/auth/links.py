"""One-time links for staff: an invitation to join an ISP, or a password reset. The link carries
32 random bytes; only their SHA-256 is stored. It works once (used and expired links look the
same: unknown) and for `LINK_HOURS` at most."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import credentials, repository
from api.errors import NotFound
from api.models import StaffLink

LINK_HOURS = 48
GONE = "This link is unknown, already used or expired; ask for a new one"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(
    session: AsyncSession, tenant_id: int, purpose: str, *, email: str, channel: str,
    role: str | None = None, router_ids: list[int] | None = None, staff_id: int | None = None,
    created_by: int | None = None, phone: str | None = None,
) -> tuple[str, StaffLink]:  # fmt: skip
    """The token to put in the link (send it, never store it) and the record."""
    token = secrets.token_urlsafe(32)
    link = await repository.insert_link(
        session,
        tenant_id,
        purpose=purpose,
        token_hash=_hash(token),
        email=email.strip().lower(),
        role=role,
        router_ids=router_ids or [],
        staff_id=staff_id,
        created_by=created_by,
        channel=channel,
        phone=phone,
        expires_at=datetime.now(UTC) + timedelta(hours=LINK_HOURS),
    )
    return token, link


async def use(session: AsyncSession, token: str, purpose: str) -> StaffLink:
    """Spends the link; 404 with a sentence when it cannot be used."""
    if not token or len(token) > 100:
        raise NotFound(GONE)
    link = await credentials.use_link(session, _hash(token), purpose)
    if link is None:
        raise NotFound(GONE)
    return link
