"""Login budgets that hold under parallel attack: the account's count moves before any password
is checked, rotating e-mails from one address runs into the address's budget, and a flood of
password checks queues behind a per-process gate instead of taking every core."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from api import limits, security
from api.auth import limiter
from api.config import get_settings
from tests.factories import PASSWORD, make_staff, make_tenant

LOGIN = "/api/v1/auth/login"


def _from(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _address() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


async def test_parallel_wrong_passwords_check_only_the_allowed_number(app):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    wrong = {"email": staff.email, "password": "not the password", "tenant": tenant.slug}
    async with _from(app, _address()) as client:
        answers = await asyncio.gather(*(client.post(LOGIN, json=wrong) for _ in range(100)))
        codes = [a.status_code for a in answers]
        assert codes.count(401) == get_settings().login_max_failures, codes
        assert codes.count(429) == 100 - get_settings().login_max_failures
        # Locked: even the right password is refused now.
        right = await client.post(LOGIN, json=wrong | {"password": PASSWORD})
        assert right.status_code == 429 and int(right.headers["retry-after"]) > 0


async def test_rotating_emails_from_one_address_hits_the_address_budget(app):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    budget = get_settings().login_address_max_failures
    address = _address()
    async with _from(app, address) as client:
        for n in range(budget):
            guess = {"email": f"guess{n}@example.com", "password": "x" * 12, "tenant": tenant.slug}
            assert (await client.post(LOGIN, json=guess)).status_code == 401
        more = {"email": "one-more@example.com", "password": "x" * 12, "tenant": tenant.slug}
        refused = await client.post(LOGIN, json=more)
        assert refused.status_code == 429 and "network" in refused.json()["detail"]
    # The same staff member from another address is not affected.
    async with _from(app, _address()) as other:
        right = {"email": staff.email, "password": PASSWORD, "tenant": tenant.slug}
        assert (await other.post(LOGIN, json=right)).status_code == 200


async def test_successful_logins_do_not_use_up_the_address_budget(app):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    right = {"email": staff.email, "password": PASSWORD, "tenant": tenant.slug}
    async with _from(app, _address()) as client:
        for _ in range(get_settings().login_address_max_failures + 5):
            assert (await client.post(LOGIN, json=right)).status_code == 200


@pytest.fixture
def small_gate(monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "password_checks_concurrent", 1)
    monkeypatch.setattr(settings, "password_checks_waiting", 3)
    security.password_checks.peak = 0
    return settings


async def test_a_flood_of_password_checks_is_gated_and_the_excess_refused(app, small_gate):
    tenant = await make_tenant()

    async def attempt(n: int) -> int:
        body = {"email": f"flood{n}@example.com", "password": "y" * 12, "tenant": tenant.slug}
        async with _from(app, _address()) as client:  # a botnet: every request its own address
            return (await client.post(LOGIN, json=body)).status_code

    codes = await asyncio.gather(*(attempt(n) for n in range(40)))
    assert security.password_checks.peak == 1  # never two argon2 checks at once
    assert codes.count(503) > 0, codes  # the queue is bounded: the excess is refused at once
    assert set(codes) == {401, 503}
    checks = security.password_checks
    assert checks.admitted == 0 and checks.running == 0


async def test_one_account_guessed_from_many_addresses_is_locked(app, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_account_max_failures", 6)
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    wrong = {"email": staff.email, "password": "not the password", "tenant": tenant.slug}
    for _ in range(6):  # a botnet: every address stays far below its own budget
        async with _from(app, _address()) as client:
            assert (await client.post(LOGIN, json=wrong)).status_code == 401
    async with _from(app, _address()) as client:
        refused = await client.post(LOGIN, json=wrong | {"password": PASSWORD})
        assert refused.status_code == 429 and "this account" in refused.json()["detail"]
    # Another account of the same ISP is not affected.
    other = await make_staff(tenant=tenant)
    async with _from(app, _address()) as client:
        ok = {"email": other.email, "password": PASSWORD, "tenant": tenant.slug}
        assert (await client.post(LOGIN, json=ok)).status_code == 200


async def test_each_lockout_of_the_same_account_lasts_twice_as_long(app, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_max_failures", 2)
    monkeypatch.setattr(get_settings(), "login_lockout", timedelta(seconds=2))
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    wrong = {"email": staff.email, "password": "not the password", "tenant": tenant.slug}
    waits = []
    async with _from(app, _address()) as client:
        for _ in range(3):
            for _ in range(2):
                assert (await client.post(LOGIN, json=wrong)).status_code == 401
            locked = await client.post(LOGIN, json=wrong)
            assert locked.status_code == 429
            waits.append(int(locked.headers["retry-after"]))
            await asyncio.sleep(waits[-1] + 1.1)
    assert waits[0] <= 2 and 2 < waits[1] <= 4 and 4 < waits[2] <= 8, waits


async def test_logins_are_refused_while_redis_is_down(app, monkeypatch):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    down = Redis.from_url("redis://127.0.0.1:9/0", decode_responses=True, socket_timeout=1)
    monkeypatch.setattr(limits, "get_redis", lambda: down)
    monkeypatch.setattr(limiter, "get_redis", lambda: down)
    right = {"email": staff.email, "password": PASSWORD, "tenant": tenant.slug}
    async with _from(app, _address()) as client:
        answer = await client.post(LOGIN, json=right)
    assert answer.status_code == 503 and "access_token" not in answer.text
    await down.aclose()
