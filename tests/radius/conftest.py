"""Fixtures for tests that talk to the real FreeRADIUS of the test stack."""

from __future__ import annotations

import itertools
import random
import secrets
import uuid

import pytest
from sqlalchemy import text

from api.db import unit_of_work
from api.vouchers import repository as vouchers_repository
from tests.factories import make_plan, make_router, make_tenant


@pytest.fixture(scope="session")
def router_addresses():
    """Loopback source addresses for simulated routers, unique within a run (127.0.0.0/8 is all
    local on Linux, so radclient can send from any of them)."""
    base = random.randrange(1, 200)
    return (f"127.{base}.{b}.{c}" for b, c in itertools.product(range(1, 255), range(1, 255)))


@pytest.fixture
def new_address(router_addresses):
    return lambda: next(router_addresses)


async def sql(statement: str, **params):
    async with unit_of_work() as session:
        result = await session.execute(text(statement), params)
        return result.mappings().all() if result.returns_rows else None


async def make_isp(*, address: str, rate=(2000, 4000), duration=3600, codes=()) -> dict:
    """A tenant with one router at `address`, one plan, and vouchers with the given codes, made
    through the same services as the API (so vouchers carry the real snapshot of the plan)."""
    secret = secrets.token_urlsafe(18)
    tenant = await make_tenant()
    router = await make_router(tenant=tenant, ip_address=address, secret=secret)
    plan = await make_plan(
        tenant=tenant, duration_seconds=duration, upload_kbps=rate[0], download_kbps=rate[1]
    )
    async with unit_of_work() as session:
        issued = await vouchers_repository.insert_codes(session, plan, str(uuid.uuid4()), codes)
    assert sorted(issued) == sorted(codes)
    return {
        "tenant_id": tenant.id,
        "router_id": router.id,
        "plan_id": plan.id,
        "address": address,
        "secret": secret,
    }


def random_code(length: int = 8) -> str:
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(length))
