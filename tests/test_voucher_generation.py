"""Voucher codes: alphabet, length, uniqueness per tenant at scale, and collision retries."""

from __future__ import annotations

import re
import uuid

import pytest

from api.config import get_settings
from api.db import unit_of_work
from api.errors import Conflict
from api.models import Voucher
from api.tenancy import Principal
from api.vouchers import repository, service
from api.vouchers.schemas import ALPHABET, BatchCreate
from tests.factories import count, make_plan, make_tenant, make_user_headers

URL = "/api/v1/vouchers/batches"


def test_alphabet_has_no_ambiguous_characters():
    assert ALPHABET == "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    assert not set("01OIL") & set(ALPHABET)


async def test_two_batches_of_10000_are_unique_and_never_collide(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    pattern = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$")
    batches = []
    for _ in range(2):
        response = await client.post(
            URL, headers=headers, json={"plan_id": plan.id, "count": 10_000, "length": 8}
        )
        assert response.status_code == 201, response.text
        codes = response.json()["codes"]
        assert response.json()["count"] == len(codes) == 10_000
        assert len(set(codes)) == 10_000
        assert all(pattern.match(code) for code in codes)
        batches.append(set(codes))
    assert not batches[0] & batches[1]
    assert await count(Voucher, tenant_id=tenant.id) == 20_000


@pytest.mark.parametrize("length", [6, 7])
async def test_requested_length_is_used(client, length):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    response = await client.post(
        URL, headers=headers, json={"plan_id": plan.id, "count": 50, "length": length}
    )
    pattern = re.compile(rf"^[{ALPHABET}]{{{length}}}$")
    assert all(pattern.match(code) for code in response.json()["codes"])


@pytest.mark.parametrize(
    "extra",
    [
        {"length": 5},
        {"length": 9},
        {"count": 0},
        {"count": get_settings().voucher_batch_max + 1},
        {"count": -3},
    ],
)
async def test_bad_length_or_count_is_422_and_nothing_created(client, extra):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    body = {"plan_id": plan.id, "count": 10} | extra
    response = await client.post(URL, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert await count(Voucher, tenant_id=tenant.id) == 0


async def test_collisions_are_redrawn(monkeypatch):
    """Only the random source is replaced: the first draws repeat codes that the database
    already holds, so the INSERT skips them and the service must draw again."""
    plan = await make_plan(tenant=await make_tenant())
    taken = ["AAAAAAAA", "BBBBBBBB", "CCCCCCCC"]
    async with unit_of_work() as session:
        inserted = await repository.insert_codes(session, plan, str(uuid.uuid4()), taken)
    assert sorted(inserted) == taken

    real = service._random_code
    draws = iter(taken + taken)  # the first five draws all collide with the database

    def colliding_then_real(length: int) -> str:
        return next(draws, None) or real(length)

    monkeypatch.setattr(service, "_random_code", colliding_then_real)
    principal = Principal.cli(plan.tenant_id)
    async with unit_of_work() as session:
        batch = await service.generate_batch(
            session, principal, BatchCreate(plan_id=plan.id, count=5, length=8)
        )
    assert batch.count == 5 and len(set(batch.codes)) == 5
    assert not set(batch.codes) & set(taken)
    assert next(draws, None) is None, "the colliding draws were not all used"
    assert await count(Voucher, tenant_id=plan.tenant_id) == 8


async def test_gives_up_with_409_when_every_draw_collides(monkeypatch):
    plan = await make_plan(tenant=await make_tenant())
    async with unit_of_work() as session:
        await repository.insert_codes(session, plan, str(uuid.uuid4()), ["DDDDDDDD"])
    monkeypatch.setattr(service, "_random_code", lambda length: "DDDDDDDD")
    with pytest.raises(Conflict):
        async with unit_of_work() as session:
            await service.generate_batch(
                session, Principal.cli(plan.tenant_id), BatchCreate(plan_id=plan.id, count=1)
            )
    assert await count(Voucher, tenant_id=plan.tenant_id) == 1
