"""API tokens (api.auth.tokens) and one-time links (api.auth.links) on the real database."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import text, update

from api.auth import links, tokens
from api.db import unit_of_work
from api.errors import BadRequest, Conflict, NotFound
from api.models import StaffLink
from api.tenancy import Principal, find_token
from tests.factories import make_staff, make_tenant


async def _principal(role: str = "owner") -> Principal:
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, role=role)
    return Principal(staff_id=staff.id, tenant_id=tenant.id, email=staff.email, role=role)


async def test_a_token_is_shown_once_stored_hashed_and_found_until_revoked() -> None:
    owner = await _principal()
    async with unit_of_work() as s:
        secret, token = await tokens.create(s, owner, "Billing export", ["vouchers:read"])
    assert secret.startswith("mnt_") and len(secret) > 40
    async with unit_of_work() as s:
        stored = (
            (await s.execute(text("SELECT * FROM api_token WHERE id = :id"), {"id": token.id}))
            .mappings()
            .one()
        )
        assert (
            secret not in str(dict(stored))
            and stored["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
        )
        found = await find_token(s, secret)
        assert found is not None and found.id == token.id and found.permissions == ["vouchers:read"]
        assert found.last_used_at is not None
        assert await find_token(s, secret + "x") is None
        assert await find_token(s, "not-a-token") is None
    async with unit_of_work() as s:
        await tokens.revoke(s, owner, token.id)
    async with unit_of_work() as s:
        assert await find_token(s, secret) is None
        audited = await s.scalar(
            text(
                "SELECT count(*) FROM audit_event"
                " WHERE object_type = 'api_token' AND object_id = :id AND tenant_id = :t"
            ),
            {"id": str(token.id), "t": owner.tenant_id},
        )
        assert audited == 2


async def test_a_token_cannot_hold_more_than_its_creators_role() -> None:
    support = await _principal("support")
    async with unit_of_work() as s:
        with pytest.raises(BadRequest, match="settings:write"):
            await tokens.create(s, support, "sneaky", ["vouchers:read", "settings:write"])
        with pytest.raises(BadRequest):
            await tokens.create(s, support, "empty", [])
        with pytest.raises(BadRequest):
            await tokens.create(s, support, " ", ["vouchers:read"])
        with pytest.raises(BadRequest):
            await tokens.create(s, support, "x" * 81, ["vouchers:read"])


async def test_token_names_are_unique_per_isp_and_revoking_is_scoped() -> None:
    a, b = await _principal(), await _principal()
    async with unit_of_work() as s:
        _, token = await tokens.create(s, a, "monitoring", ["routers:read"])
        await tokens.create(s, b, "monitoring", ["routers:read"])  # another ISP: fine
    async with unit_of_work() as s:
        with pytest.raises(Conflict):
            await tokens.create(s, a, "monitoring", ["routers:read"])
    async with unit_of_work() as s:
        with pytest.raises(NotFound):
            await tokens.revoke(s, b, token.id)  # B cannot revoke A's token
        assert [t.name for t in await tokens.list_(s, b)] == ["monitoring"]


async def test_a_link_works_once() -> None:
    owner = await _principal()
    async with unit_of_work() as s:
        token, link = await links.create(
            s,
            owner.tenant_id,
            "invite",
            email="New.Tech@Example.com",
            channel="email",
            role="tech",
            created_by=owner.staff_id,
        )
    async with unit_of_work() as s:
        stored = await s.get(StaffLink, link.id)
        assert (
            stored is not None
            and token not in stored.token_hash
            and stored.email == "new.tech@example.com"
        )
    results = []
    for _ in range(2):
        async with unit_of_work() as s:
            try:
                results.append((await links.use(s, token, "invite")).id)
            except NotFound as exc:
                results.append(str(exc.detail))
    assert results[0] == link.id and "already used" in str(results[1])


async def test_a_link_clicked_twice_at_once_works_once() -> None:
    owner = await _principal()
    async with unit_of_work() as s:
        token, _ = await links.create(
            s,
            owner.tenant_id,
            "reset",
            email="a@example.com",
            channel="email",
            staff_id=owner.staff_id,
        )

    async def click() -> bool:
        async with unit_of_work() as s:
            try:
                await links.use(s, token, "reset")
                return True
            except NotFound:
                return False

    assert sorted(await asyncio.gather(*(click() for _ in range(6)))) == [False] * 5 + [True]


async def test_expired_unknown_and_wrong_purpose_links_are_refused() -> None:
    owner = await _principal()
    async with unit_of_work() as s:
        token, link = await links.create(
            s,
            owner.tenant_id,
            "invite",
            email="a@example.com",
            channel="sms",
            role="support",
            phone="+254712345678",
        )
    async with unit_of_work() as s:
        with pytest.raises(NotFound):
            await links.use(s, token, "reset")  # an invite is not a reset link
        await s.execute(
            update(StaffLink)
            .where(StaffLink.id == link.id)
            .values(expires_at=text("now() - interval '1 second'"))
        )
    async with unit_of_work() as s:
        with pytest.raises(NotFound):
            await links.use(s, token, "invite")
        for bad in ("", "x", "y" * 5000, token + "x"):
            with pytest.raises(NotFound):
                await links.use(s, bad, "invite")
