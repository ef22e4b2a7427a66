"""A one-time link (an invitation, a password reset) found by its hash: across ISPs on purpose
(listed in tests/test_layout.py's CROSS_TENANT), because the link is looked up before anyone is
known and names its ISP itself, like an API token (api.tenancy.find_token) or a login's e-mail
and ISP."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import StaffLink


async def use_link(session: AsyncSession, token_hash: str, purpose: str) -> StaffLink | None:
    """Marks the live link used and returns it; None if unknown, used or expired. One guarded
    UPDATE: a link clicked twice at once works once. A link names its ISP, like a token."""
    result = await session.execute(
        text(
            "UPDATE staff_link SET used_at = now() WHERE token_hash = :hash AND purpose = :purpose"
            " AND used_at IS NULL AND expires_at > now() RETURNING id"
        ),
        {"hash": token_hash, "purpose": purpose},
    )
    row = result.first()
    return None if row is None else await session.get(StaffLink, row[0])
