"""Fixtures for tests that talk to the real FreeRADIUS of the test stack."""

from __future__ import annotations

import itertools
import random
import secrets
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from api.db import unit_of_work
from api.vouchers import repository as vouchers_repository
from tests.factories import make_plan, make_router, make_tenant
from tests.radius.radclient import warm_up


@pytest.fixture(scope="session")
async def router_addresses():
    """Loopback source addresses for simulated routers, unique within a run and not registered
    by an earlier run on the same database (127.0.0.0/8 is all local on Linux, so radclient can
    send from any of them)."""
    taken = {r["ip"] for r in await sql("SELECT host(ip_address) AS ip FROM router")}
    base = random.randrange(1, 200)
    return (
        address
        for b, c in itertools.product(range(1, 255), range(1, 255))
        if (address := f"127.{base}.{b}.{c}") not in taken
    )


@pytest.fixture
def new_address(router_addresses):
    return lambda: next(router_addresses)


async def sql(statement: str, **params):
    async with unit_of_work() as session:
        result = await session.execute(text(statement), params)
        return result.mappings().all() if result.returns_rows else None


async def make_isp(
    *, address: str, rate=(2000, 4000), duration=3600, codes=(), **plan_terms
) -> dict:
    """A tenant with one router at `address`, one plan, and vouchers with the given codes, made
    through the same services as the API (so vouchers carry the real snapshot of the plan).
    plan_terms: time_quota_seconds, data_quota_bytes, device_limit, mac_binding."""
    secret = secrets.token_urlsafe(18)
    tenant = await make_tenant()
    router = await make_router(tenant=tenant, ip_address=address, secret=secret)
    plan = await make_plan(
        tenant=tenant,
        duration_seconds=duration,
        upload_kbps=rate[0],
        download_kbps=rate[1],
        **plan_terms,
    )
    async with unit_of_work() as session:
        issued = await vouchers_repository.insert_codes(session, plan, str(uuid.uuid4()), codes)
    assert sorted(issued) == sorted(codes)
    warm_up(address, secret)
    return {
        "tenant_id": tenant.id,
        "router_id": router.id,
        "plan_id": plan.id,
        "address": address,
        "secret": secret,
    }


async def add_router(isp: dict, address: str) -> None:
    """A second router of the same ISP, sharing the first one's secret for brevity."""
    tenant = (await sql("SELECT * FROM tenant WHERE id = :t", t=isp["tenant_id"]))[0]
    await make_router(tenant=SimpleNamespace(**tenant), ip_address=address, secret=isp["secret"])
    warm_up(address, isp["secret"])


def random_code(length: int = 8) -> str:
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_mac() -> str:
    return ":".join(f"{b:02X}" for b in secrets.token_bytes(6))
