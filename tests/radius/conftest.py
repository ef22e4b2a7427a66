"""Fixtures for tests that talk to the real FreeRADIUS of the test stack."""

from __future__ import annotations

import itertools
import random
import secrets

import pytest
from sqlalchemy import text

from api.db import unit_of_work


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
    """A tenant with one router at `address`, one plan and vouchers with the given codes."""
    slug = "r" + secrets.token_hex(5)
    secret = secrets.token_urlsafe(18)
    async with unit_of_work() as session:
        tenant_id = (
            await session.execute(
                text("INSERT INTO tenant (slug, name) VALUES (:s, :s) RETURNING id"), {"s": slug}
            )
        ).scalar_one()
        router_id = (
            await session.execute(
                text(
                    "INSERT INTO router (tenant_id, name, ip_address, secret) "
                    "VALUES (:t, 'r1', :ip, :secret) RETURNING id"
                ),
                {"t": tenant_id, "ip": address, "secret": secret},
            )
        ).scalar_one()
        plan_id = (
            await session.execute(
                text(
                    "INSERT INTO plan (tenant_id, name, price, duration_seconds, upload_kbps, "
                    "download_kbps) VALUES (:t, 'p', 10, :d, :up, :down) RETURNING id"
                ),
                {"t": tenant_id, "d": duration, "up": rate[0], "down": rate[1]},
            )
        ).scalar_one()
        for code in codes:
            await session.execute(
                text(
                    "INSERT INTO voucher (tenant_id, plan_id, code, duration_seconds, rate_limit, "
                    "device_limit) VALUES (:t, :p, :c, :d, :r, 1)"
                ),
                {
                    "t": tenant_id,
                    "p": plan_id,
                    "c": code,
                    "d": duration,
                    "r": f"{rate[0] // 1000}M/{rate[1] // 1000}M",
                },
            )
    return {
        "tenant_id": tenant_id,
        "router_id": router_id,
        "plan_id": plan_id,
        "address": address,
        "secret": secret,
    }


def random_code(length: int = 8) -> str:
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(length))
