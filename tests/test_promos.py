"""/api/v1/promos, and what a promo code does to a price: quote() before the STK push, redeem()
when the purchase is paid."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from api.db import get_sessionmaker, unit_of_work
from api.errors import BadRequest
from api.models import Plan, Tenant
from api.promos import service
from api.promos.schemas import PromoCreate
from api.promos.service import ENDED, INACTIVE, NOT_STARTED, UNKNOWN, USED_UP, WRONG_PLAN
from api.tenancy import Principal
from tests.factories import make_plan, make_tenant, make_user_headers
from tests.payshop import phone
from tests.radius.conftest import sql

URL = "/api/v1/promos"
VALID = {"code": "XMAS24", "kind": "percent", "value": 20}


def new_code() -> str:
    return "P" + secrets.token_hex(5).upper()


async def make_promo(*, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    values = {"code": new_code(), "kind": "percent", "value": 10} | overrides
    async with unit_of_work() as session:
        return await service.create_promo(session, Principal.cli(tenant.id), PromoCreate(**values))


async def promo_row(promo_id: int) -> dict[str, Any] | None:
    rows = await sql("SELECT * FROM promo_code WHERE id = :id", id=promo_id)
    return dict(rows[0]) if rows else None


async def promo_rows(tenant: Tenant) -> list[dict[str, Any]]:
    return [
        dict(r) for r in await sql("SELECT * FROM promo_code WHERE tenant_id = :t", t=tenant.id)
    ]


async def audits(tenant: Tenant) -> list[dict[str, Any]]:
    rows = await sql(
        """SELECT action, object_type, object_id, details, actor FROM audit_event
            WHERE tenant_id = :t AND action LIKE 'promo.%' ORDER BY id""",
        t=tenant.id,
    )
    return [dict(r) for r in rows]


async def plan_row(plan: Plan) -> dict[str, Any]:
    """The plan as the payment code hands it to quote(): a row mapping of table plan."""
    [row] = await sql("SELECT * FROM plan WHERE id = :id", id=plan.id)
    return dict(row)


async def quote(tenant: Tenant, plan: Plan, code: str | None) -> service.Quote:
    async with unit_of_work() as session:
        return await service.quote(session, tenant.id, await plan_row(plan), code)


async def refusal(tenant: Tenant, plan: Plan, code: str) -> str:
    with pytest.raises(BadRequest) as refused:
        await quote(tenant, plan, code)
    assert refused.value.status_code == 422
    return refused.value.detail


_PURCHASE = """
    INSERT INTO stk_request (tenant_id, plan_id, phone, amount, account_type, reference,
                             promo_code_id, list_price, status, created_at)
    VALUES (:t, :plan, :phone, 1, 'paybill', :ref, :promo, :price, :status,
            now() - make_interval(mins => :age))"""


def _purchase(plan: Plan, promo_id: int, status: str, age: int) -> dict[str, Any]:
    return {
        "t": plan.tenant_id, "plan": plan.id, "phone": phone(), "promo": promo_id,
        "ref": "WF" + secrets.token_hex(4).upper(), "price": plan.price, "status": status,
        "age": age,
    }  # fmt: skip


async def purchase(plan: Plan, promo_id: int, *, status: str = "pending", age: int = 0) -> None:
    """A purchase that used the promo, `age` minutes old, committed."""
    await sql(_PURCHASE, **_purchase(plan, promo_id, status, age))


# ---------------------------------------------------------------- staff API


async def test_anonymous_is_401(client):
    tenant = await make_tenant()
    promo = await make_promo(tenant=tenant)
    for method, url in [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{promo['id']}"),
        ("PATCH", f"{URL}/{promo['id']}"),
        ("DELETE", f"{URL}/{promo['id']}"),
    ]:
        assert (await client.request(method, url, json=VALID)).status_code == 401, (method, url)
    assert [p["active"] for p in await promo_rows(tenant)] == [True]


async def test_create_get_list_and_audit(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    first = await client.post(URL, headers=headers, json=VALID | {"code": " xmas24 "})
    assert first.status_code == 201, first.text
    promo = first.json()
    assert promo["code"] == "XMAS24"
    assert promo["status"] == "active" and promo["active"] is True
    assert (promo["uses"], promo["pending"], promo["plan_id"], promo["max_uses"]) == (
        0,
        0,
        None,
        None,
    )
    body = {
        "code": "Jan500", "kind": "fixed", "value": 5, "plan_id": plan.id, "max_uses": 50,
        "starts_at": "2030-01-01T00:00:00+03:00", "ends_at": "2030-02-01T00:00:00+03:00",
    }  # fmt: skip
    second = await client.post(URL, headers=headers, json=body)
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "scheduled" and second.json()["plan_id"] == plan.id
    assert second.json()["starts_at"] == "2029-12-31T21:00:00Z"
    assert (await client.get(f"{URL}/{promo['id']}", headers=headers)).json() == promo
    listed = (await client.get(URL, headers=headers)).json()
    assert [p["code"] for p in listed] == ["JAN500", "XMAS24"]  # newest first
    assert [(a["action"], a["object_id"]) for a in await audits(tenant)] == [
        ("promo.create", str(promo["id"])),
        ("promo.create", str(second.json()["id"])),
    ]
    assert (await audits(tenant))[1]["details"]["code"] == "JAN500"


@pytest.mark.parametrize(
    "change,message",
    [
        ({"kind": "percent", "value": 101}, "more than 100"),
        ({"value": 0}, None),
        ({"value": -5}, None),
        ({"value": 2**31}, None),
        ({"kind": "free"}, None),
        ({"code": "AB"}, "3 to 20 letters and digits"),
        ({"code": "X" * 21}, "3 to 20 letters and digits"),
        ({"code": "XMAS 24"}, "3 to 20 letters and digits"),
        ({"code": "XMAS-24"}, "3 to 20 letters and digits"),
        ({"code": "ÉTÉ2024"}, "3 to 20 letters and digits"),
        ({"starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "end after"),
        ({"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "end after"),
        ({"ends_at": "2030-01-01T00:00:00"}, "timezone"),
        ({"max_uses": 0}, None),
        ({"plan_id": 0}, None),
        ({"uses": 5}, "Extra inputs"),
        ({"active": False}, "Extra inputs"),
    ],
)
async def test_invalid_input_is_422_and_nothing_created(client, change, message):
    tenant, headers = await make_user_headers(client)
    response = await client.post(URL, headers=headers, json=VALID | change)
    assert response.status_code == 422, response.text
    if message:
        assert message in response.text
    assert await promo_rows(tenant) == []
    assert await audits(tenant) == []


async def test_plan_must_be_one_of_this_isps(client):
    tenant, headers = await make_user_headers(client)
    others = await make_plan(tenant=await make_tenant())
    for plan_id in (others.id, 2_000_000_000):
        response = await client.post(URL, headers=headers, json=VALID | {"plan_id": plan_id})
        assert response.status_code == 404
        assert response.json()["detail"] == "No such plan"
    assert await promo_rows(tenant) == []


async def test_duplicate_code_is_409_even_in_another_case_or_inactive(client):
    tenant, headers = await make_user_headers(client)
    promo = await make_promo(tenant=tenant, code="XMAS24")
    await client.delete(f"{URL}/{promo['id']}", headers=headers)
    response = await client.post(URL, headers=headers, json=VALID | {"code": "xmas24"})
    assert response.status_code == 409
    assert "XMAS24" in response.json()["detail"]
    assert len(await promo_rows(tenant)) == 1
    # Codes are per ISP: another one may sell the same word.
    _, other = await make_user_headers(client)
    assert (await client.post(URL, headers=other, json=VALID)).status_code == 201


async def test_patch_is_partial_validated_against_the_whole_promo_and_audited(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    promo = await make_promo(tenant=tenant, kind="fixed", value=500, plan_id=plan.id)
    url = f"{URL}/{promo['id']}"
    change = {"value": 300, "max_uses": 10, "ends_at": "2031-01-01T00:00:00Z", "plan_id": None}
    response = await client.patch(url, headers=headers, json=change)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["value"], patched["max_uses"], patched["plan_id"]) == (300, 10, None)
    assert (patched["kind"], patched["code"]) == ("fixed", promo["code"])  # untouched
    assert patched["ends_at"] == "2031-01-01T00:00:00Z"
    for bad, status in [
        ({"kind": "percent"}, 422),  # 300 percent
        ({"starts_at": "2031-06-01T00:00:00Z"}, 422),  # after its end
        ({"value": None}, 422),
        ({"active": None}, 422),
        ({"code": "NEWCODE"}, 422),
        ({"max_uses": 0}, 422),
        ({"plan_id": (await make_plan(tenant=await make_tenant())).id}, 404),
    ]:
        response = await client.patch(url, headers=headers, json=bad)
        assert response.status_code == status, (bad, response.text)
    assert (
        "more than 100"
        in (await client.patch(url, headers=headers, json={"kind": "percent"})).json()["detail"]
    )
    assert (await client.get(url, headers=headers)).json() == patched
    updates = [a for a in await audits(tenant) if a["action"] == "promo.update"]
    assert [u["details"] for u in updates] == [change]


async def test_delete_deactivates_keeps_it_listed_and_can_be_undone(client):
    tenant, headers = await make_user_headers(client)
    plan = await make_plan(tenant=tenant)
    promo = await make_promo(tenant=tenant)
    url = f"{URL}/{promo['id']}"
    assert (await client.delete(url, headers=headers)).status_code == 204
    assert (await client.delete(url, headers=headers)).status_code == 204  # already inactive
    listed = (await client.get(URL, headers=headers)).json()
    assert [(p["id"], p["status"], p["active"]) for p in listed] == [
        (promo["id"], "inactive", False)
    ]
    assert await refusal(tenant, plan, promo["code"]) == INACTIVE
    deactivations = [a for a in await audits(tenant) if a["action"] == "promo.deactivate"]
    assert [(a["object_id"], a["details"]) for a in deactivations] == [
        (str(promo["id"]), {"code": promo["code"]})
    ]
    response = await client.patch(url, headers=headers, json={"active": True})
    assert response.json()["status"] == "active"
    assert (await quote(tenant, plan, promo["code"])).promo_id == promo["id"]


async def test_status(client):
    tenant, headers = await make_user_headers(client)
    promos = {
        status: await make_promo(tenant=tenant, max_uses=3)
        for status in ("active", "scheduled", "ended", "used_up", "inactive", "ending_later")
    }
    await sql(
        "UPDATE promo_code SET starts_at = now() + interval '1 day' WHERE id = :id",
        id=promos["scheduled"]["id"],
    )
    await sql(
        """UPDATE promo_code SET starts_at = now() - interval '2 days',
                                 ends_at = now() - interval '1 second' WHERE id = :id""",
        id=promos["ended"]["id"],
    )
    await sql("UPDATE promo_code SET uses = 3 WHERE id = :id", id=promos["used_up"]["id"])
    await sql("UPDATE promo_code SET active = false WHERE id = :id", id=promos["inactive"]["id"])
    await sql(
        """UPDATE promo_code SET uses = 2, starts_at = now() - interval '1 day',
                                 ends_at = now() + interval '1 hour' WHERE id = :id""",
        id=promos["ending_later"]["id"],
    )
    listed = {p["id"]: p["status"] for p in (await client.get(URL, headers=headers)).json()}
    expected = {status: status for status in promos} | {"ending_later": "active"}
    assert {s: listed[p["id"]] for s, p in promos.items()} == expected


async def test_roles(client):
    tenant, support = await make_user_headers(client, role="support")  # sees plans, changes none
    promo = await make_promo(tenant=tenant)
    url = f"{URL}/{promo['id']}"
    assert (await client.get(URL, headers=support)).status_code == 200
    assert (await client.get(url, headers=support)).status_code == 200
    assert (await client.post(URL, headers=support, json=VALID)).status_code == 403
    assert (await client.patch(url, headers=support, json={"value": 99})).status_code == 403
    assert (await client.delete(url, headers=support)).status_code == 403
    assert [(p["value"], p["active"]) for p in await promo_rows(tenant)] == [(10, True)]
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    assert (await client.post(URL, headers=admin, json=VALID)).status_code == 201


async def test_another_isp_gets_404_and_changes_nothing(client):
    tenant, headers = await make_user_headers(client)
    promo = await make_promo(tenant=tenant)
    url = f"{URL}/{promo['id']}"
    _, other = await make_user_headers(client)
    assert (await client.get(URL, headers=other)).json() == []
    assert (await client.get(url, headers=other)).status_code == 404
    assert (await client.patch(url, headers=other, json={"value": 90})).status_code == 404
    assert (await client.delete(url, headers=other)).status_code == 404
    assert (await client.get(url, headers=headers)).json() == await _as_listed(client, headers)
    assert [(p["value"], p["active"]) for p in await promo_rows(tenant)] == [(10, True)]
    assert [a["action"] for a in await audits(tenant)] == ["promo.create"]  # nothing by B


async def _as_listed(client, headers) -> dict[str, Any]:
    [only] = (await client.get(URL, headers=headers)).json()
    return only


# ---------------------------------------------------------------- quote()


async def test_no_code_is_the_list_price():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant, price=50)
    for code in (None, "", "   "):
        assert await quote(tenant, plan, code) == service.Quote(
            list_price=50, amount=50, discount=0, promo_id=None, code=None
        )


@pytest.mark.parametrize(
    "price,kind,value,amount",
    [
        (100, "percent", 20, 80),
        (99, "percent", 15, 85),  # 14.85 off: whole shillings, rounded down
        (10, "percent", 33, 7),  # 3.3 off
        (1, "percent", 50, 1),  # 0.5 off: nothing
        (50, "percent", 100, 1),  # free is 1 KES: M-Pesa's minimum
        (100, "fixed", 30, 70),
        (20, "fixed", 20, 1),
        (20, "fixed", 500, 1),
        (0, "fixed", 5, 0),  # a free plan stays free, the discount is never negative
    ],
)
async def test_quote_maths(price, kind, value, amount):
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant, price=price)
    promo = await make_promo(tenant=tenant, kind=kind, value=value)
    assert await quote(tenant, plan, promo["code"]) == service.Quote(
        list_price=price,
        amount=amount,
        discount=price - amount,
        promo_id=promo["id"],
        code=promo["code"],
    )


async def test_codes_match_case_insensitively_and_trimmed():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant, price=100)
    promo = await make_promo(tenant=tenant, code="XMAS24", value=10)
    for typed in ("xmas24", " XmAs24\n", "\tXMAS24 "):
        got = await quote(tenant, plan, typed)
        assert (got.promo_id, got.code, got.amount) == (promo["id"], "XMAS24", 90), typed


async def test_each_refusal_has_its_own_sentence():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    other_plan = await make_plan(tenant=tenant)
    elsewhere = await make_promo(tenant=await make_tenant(), code="ELSEWHERE")
    codes = {
        "inactive": (await make_promo(tenant=tenant, code="OFF1"))["id"],
        "later": (await make_promo(tenant=tenant, code="LATER1"))["id"],
        "over": (await make_promo(tenant=tenant, code="OVER1"))["id"],
        "full": (await make_promo(tenant=tenant, code="FULL1", max_uses=2))["id"],
        "other": (await make_promo(tenant=tenant, code="OTHER1", plan_id=other_plan.id))["id"],
    }
    await sql("UPDATE promo_code SET active = false WHERE id = :id", id=codes["inactive"])
    await sql(
        "UPDATE promo_code SET starts_at = now() + interval '1 minute' WHERE id = :id",
        id=codes["later"],
    )
    await sql(
        """UPDATE promo_code SET starts_at = now() - interval '1 day', ends_at = now()
            WHERE id = :id""",
        id=codes["over"],
    )
    await sql("UPDATE promo_code SET uses = 2 WHERE id = :id", id=codes["full"])
    answers = {
        typed: await refusal(tenant, plan, typed)
        for typed in ("NOSUCH1", "no such code", "X" * 5000, "off1", "LATER1", "OVER1",
                      "FULL1", "OTHER1", elsewhere["code"])
    }  # fmt: skip
    assert answers == {
        "NOSUCH1": UNKNOWN,
        "no such code": UNKNOWN,
        "X" * 5000: UNKNOWN,
        "off1": INACTIVE,
        "LATER1": NOT_STARTED,
        "OVER1": ENDED,
        "FULL1": USED_UP,
        "OTHER1": WRONG_PLAN,
        "ELSEWHERE": UNKNOWN,  # another ISP's code does not exist here
    }
    assert len({UNKNOWN, INACTIVE, NOT_STARTED, ENDED, USED_UP, WRONG_PLAN}) == 6
    assert (await quote(tenant, other_plan, "OTHER1")).promo_id == codes["other"]


async def test_validity_window_opens_and_closes():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant, price=100)
    starts = datetime.now(UTC) + timedelta(days=1)
    promo = await make_promo(tenant=tenant, starts_at=starts, ends_at=starts + timedelta(days=1))
    code, where = promo["code"], {"id": promo["id"]}
    assert await refusal(tenant, plan, code) == NOT_STARTED
    await sql(
        """UPDATE promo_code SET starts_at = now() - interval '1 second',
                                 ends_at = now() + interval '1 hour' WHERE id = :id""",
        **where,
    )
    assert (await quote(tenant, plan, code)).amount == 90
    await sql("UPDATE promo_code SET ends_at = now() - interval '1 second' WHERE id = :id", **where)
    assert await refusal(tenant, plan, code) == ENDED
    await sql("UPDATE promo_code SET starts_at = NULL, ends_at = NULL WHERE id = :id", **where)
    assert (await quote(tenant, plan, code)).amount == 90  # open on both sides


async def test_a_code_for_one_plan_and_a_code_for_all():
    tenant = await make_tenant()
    hour = await make_plan(tenant=tenant, price=10)
    day = await make_plan(tenant=tenant, price=50)
    only_day = await make_promo(tenant=tenant, kind="fixed", value=20, plan_id=day.id)
    every = await make_promo(tenant=tenant, kind="fixed", value=5)
    assert (await quote(tenant, day, only_day["code"])).amount == 30
    assert await refusal(tenant, hour, only_day["code"]) == WRONG_PLAN
    assert [(await quote(tenant, p, every["code"])).amount for p in (hour, day)] == [5, 45]


async def test_usage_cap_counts_recent_pending_purchases():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    promo = await make_promo(tenant=tenant, max_uses=2)
    other = await make_promo(tenant=tenant, max_uses=1)
    code = promo["code"]
    await purchase(plan, other["id"])  # another code's purchase holds nothing of this one
    await purchase(plan, promo["id"], status="failed")
    await purchase(plan, promo["id"], status="pending", age=11)  # abandoned: its hold lapsed
    await purchase(plan, promo["id"], status="paid")  # counted by uses (below), not again
    await purchase(plan, promo["id"], status="pending", age=9)
    assert (await quote(tenant, plan, code)).promo_id == promo["id"]  # 0 used + 1 held < 2
    await purchase(plan, promo["id"], status="pending")
    assert await refusal(tenant, plan, code) == USED_UP  # 0 + 2 held
    await sql("UPDATE stk_request SET status = 'failed' WHERE promo_code_id = :id", id=promo["id"])
    await sql("UPDATE promo_code SET uses = 1 WHERE id = :id", id=promo["id"])
    assert (await quote(tenant, plan, code)).promo_id == promo["id"]  # 1 used < 2
    await purchase(plan, promo["id"])
    assert await refusal(tenant, plan, code) == USED_UP  # 1 used + 1 held
    async with unit_of_work() as session:
        shown = await service.get_promo(session, Principal.cli(tenant.id), promo["id"])
    assert (shown["uses"], shown["pending"], shown["status"]) == (1, 1, "active")


async def _blocked_by(pid: int, blocker: int, racing: asyncio.Task) -> None:
    """Returns once backend `pid` waits for a lock `blocker` holds; fails if the racing quote
    finishes instead (it did not wait) or nothing happens for 10 s."""
    for _ in range(500):
        if racing.done():
            pytest.fail(f"the second quote did not wait for the first's lock: {racing.result()}")
        [row] = await sql("SELECT :b = ANY(pg_blocking_pids(:p)) AS blocked", p=pid, b=blocker)
        if row["blocked"]:
            return
        await asyncio.sleep(0.02)
    racing.cancel()
    pytest.fail("the second quote neither waited for the first's lock nor finished")


@pytest.mark.parametrize("first_outcome", ["commit", "rollback"])
async def test_racing_quotes_at_the_cap_sell_the_last_use_once(first_outcome):
    """Two customers at max_uses=1: the first quote locks the promo and inserts its pending
    purchase; the second waits for that transaction, then sees the purchase (used up) or, if
    the first push was abandoned (rollback), gets the use itself."""
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    promo = await make_promo(tenant=tenant, max_uses=1)
    row = await plan_row(plan)
    maker = get_sessionmaker()
    async with maker() as first, maker() as second:
        first_pid = await first.scalar(text("SELECT pg_backend_pid()"))
        second_pid = await second.scalar(text("SELECT pg_backend_pid()"))
        got = await service.quote(first, tenant.id, row, promo["code"])
        await first.execute(text(_PURCHASE), _purchase(plan, got.promo_id, "pending", 0))
        racing = asyncio.create_task(service.quote(second, tenant.id, row, promo["code"]))
        await _blocked_by(second_pid, first_pid, racing)
        await (first.commit() if first_outcome == "commit" else first.rollback())
        if first_outcome == "commit":
            with pytest.raises(BadRequest) as refused:
                await racing
            assert refused.value.detail == USED_UP
        else:
            assert (await racing).promo_id == promo["id"]
        await second.rollback()


# ---------------------------------------------------------------- redeem()


async def test_redeem_counts_a_use_until_the_cap():
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant)
    promo = await make_promo(tenant=tenant, max_uses=2)
    for _ in range(2):
        async with unit_of_work() as session:
            await service.redeem(session, tenant.id, promo["id"])
    assert (await promo_row(promo["id"]))["uses"] == 2
    assert await refusal(tenant, plan, promo["code"]) == USED_UP


async def test_redeem_counts_nothing_on_another_isps_promo():
    """A use is counted in the paying ISP's scope: another ISP's promo id changes nothing."""
    tenant, other = await make_tenant(), await make_tenant()
    promo = await make_promo(tenant=tenant)
    async with unit_of_work() as session:
        await service.redeem(session, other.id, promo["id"])
    assert (await promo_row(promo["id"]))["uses"] == 0


async def test_redeem_of_a_deleted_promo_does_not_fail_the_payment():
    tenant = await make_tenant()
    promo = await make_promo(tenant=tenant)
    await sql("DELETE FROM promo_code WHERE id = :id", id=promo["id"])
    async with unit_of_work() as session:
        await service.redeem(session, tenant.id, promo["id"])
        # the payment's transaction goes on and commits
        await session.execute(
            text("UPDATE tenant SET name = 'after redeem' WHERE id = :t"), {"t": tenant.id}
        )
    [row] = await sql("SELECT name FROM tenant WHERE id = :t", t=tenant.id)
    assert row["name"] == "after redeem"
    assert await promo_row(promo["id"]) is None
