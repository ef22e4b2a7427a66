"""The staff password rule (api.passwords), and the hashing of passwords (api.security): its
argon2 parameters, and the rehash of older hashes at their owner's next login."""

from __future__ import annotations

import secrets

import httpx
import pytest
from passlib.context import CryptContext
from sqlalchemy import text

from api import passwords
from api.auth import repository as auth_repository
from api.db import unit_of_work
from api.errors import BadRequest
from api.platform import service as platform_service
from api.security import pwd_context
from tests.factories import PASSWORD, make_staff, make_tenant


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short1!", "at least 10"),
        ("x" * 201, "at most 200"),
        ("aaaaaaaaaaaa", "different characters"),
        ("1234567890", "too common"),
        ("password123", "too common"),
        ("Password2024!", "too common"),
        ("P@ssw0rd2026", "too common"),
        ("!!football99!!", "too common"),
        ("Safaricom2025", "too common"),
        ("mikrotik12345", "too common"),
        ("Qwertyuiop", "too common"),
        ("wanjiku.k2026", "e-mail"),
        ("demonet-2026-x", "ISP"),
        ("20261234567890!", "only digits"),
        ("9183-7364-5512", "only digits"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    problem = passwords.problem(password, email="wanjiku.k@example.com", isp="demonet")
    assert problem is not None and why.lower() in problem.lower()


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "Mvua-ya-Novemba-7", "tq8#Lw2!zR4m", "Kitenge Blue Umbrella"],
)
def test_good_passwords_pass(password: str) -> None:
    assert passwords.problem(password, email="wanjiku.k@example.com", isp="demonet") is None


def test_the_shipped_list_is_loaded() -> None:
    assert len(passwords.common()) > 30_000
    assert {"password", "dragon", "safaricom"} <= passwords.common()
    assert not any(p.startswith("#") for p in passwords.common())


async def test_staff_and_operators_cannot_be_given_a_weak_password() -> None:
    tenant = await make_tenant()
    for weak in ("Password2024!", "short", "x" * 12):
        with pytest.raises(BadRequest):
            await make_staff(tenant=tenant, password=weak)
        with pytest.raises(BadRequest):
            async with unit_of_work() as session:
                await platform_service.create_operator(
                    session, email="op-weak@example.com", password=weak
                )
    assert await make_staff(tenant=tenant, password="Mvua ya Novemba 7")


# passlib's defaults before api.security chose its own (argon2-cffi's profile): hashes made with
# them are in the database and must keep working.
OLD_PARAMETERS = CryptContext(
    schemes=["argon2"], argon2__memory_cost=65536, argon2__rounds=3, argon2__parallelism=4
)


async def _hash_of(table: str, row_id: int) -> str:
    async with unit_of_work() as session:
        sql = text(f"SELECT password_hash FROM {table} WHERE id = :id")
        return (await session.execute(sql, {"id": row_id})).scalar_one()


async def _set_hash(table: str, row_id: int, password_hash: str) -> None:
    async with unit_of_work() as session:
        sql = text(f"UPDATE {table} SET password_hash = :h WHERE id = :id")
        await session.execute(sql, {"h": password_hash, "id": row_id})


def test_the_parameters_are_owasp_argon2id_at_least() -> None:
    handler = pwd_context.handler()
    assert handler.type == "id" and handler.parallelism >= 1
    # OWASP's equivalent minimums: memory (MiB) and passes, e.g. 19 MiB x 2, 12 MiB x 3.
    assert handler.memory_cost * handler.default_rounds >= 12 * 1024 * 3
    assert not pwd_context.needs_update(pwd_context.hash(PASSWORD))
    assert pwd_context.needs_update(OLD_PARAMETERS.hash(PASSWORD))


async def test_a_hash_with_older_parameters_still_signs_in_and_is_replaced(app) -> None:
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    old = OLD_PARAMETERS.hash(PASSWORD)
    await _set_hash("staff_user", staff.id, old)
    # An address of its own: the wrong password below takes from that address's login budget.
    address = f"10.78.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        wrong = {"email": staff.email, "password": "not the password", "tenant": tenant.slug}
        assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
        assert await _hash_of("staff_user", staff.id) == old  # a wrong password changes nothing

        right = wrong | {"password": PASSWORD}
        assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200
        new = await _hash_of("staff_user", staff.id)
        assert new != old and not pwd_context.needs_update(new)
        assert pwd_context.verify(PASSWORD, new)
        assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200
        assert await _hash_of("staff_user", staff.id) == new  # current: left alone


async def test_an_operator_hash_with_older_parameters_is_replaced(client) -> None:
    email = f"op-{secrets.token_hex(4)}@example.com"
    async with unit_of_work() as session:
        operator = await platform_service.create_operator(session, email=email, password=PASSWORD)
    await _set_hash("platform_operator", operator.id, OLD_PARAMETERS.hash(PASSWORD))
    body = {"email": email, "password": PASSWORD}
    assert (await client.post("/api/v1/platform/login", json=body)).status_code == 200
    assert not pwd_context.needs_update(await _hash_of("platform_operator", operator.id))


async def test_a_rehash_does_not_undo_a_password_changed_meanwhile() -> None:
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    read_at_login = OLD_PARAMETERS.hash(PASSWORD)
    changed = pwd_context.hash("Kitenge Blue Umbrella 42")  # a new password, set since
    await _set_hash("staff_user", staff.id, changed)
    async with unit_of_work() as session:
        await auth_repository.rehash(
            session, tenant.id, staff.id, old=read_at_login, new=pwd_context.hash(PASSWORD)
        )
    assert await _hash_of("staff_user", staff.id) == changed
