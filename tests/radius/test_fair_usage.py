"""Fair usage: crossing a rule's threshold rate-limits exactly the sessions it covers (by CoA to
their routers), new logins get the throttled rate from FreeRADIUS, and the plan's rate comes
back when the load drops."""

from __future__ import annotations

import asyncio
import secrets
import time

from api.db import unit_of_work
from api.sessions import fairuse, tasks
from tests.factories import accounting, make_user_headers, make_voucher
from tests.payshop import add_plan, make_shop, shop_plan, shop_tenant
from tests.radius.conftest import sql
from tests.radius.radclient import hotspot_request, send, warm_up
from tests.radius.test_session_control import router_with_sim, sid

THROTTLED = "1M/1M"


async def _start(shop, sim, voucher, name: str) -> str:
    session_id = sid(name)
    mac = ":".join(f"{b:02X}" for b in secrets.token_bytes(6))
    await accounting(kind="start", tenant_id=shop.tenant_id, nas=sim.address,
                     username=voucher.code, unique=session_id, mac=mac)  # fmt: skip
    sim.sessions[session_id] = {"User-Name": voucher.code}
    return session_id


async def _evaluate(shop) -> None:
    async with unit_of_work() as session:
        await fairuse.evaluate(session, shop.tenant_id)


async def _coas(sim, want: int, wait: float = 10) -> list:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        got = [r for r in sim.received if r.code == "coa"]
        if len(got) >= want:
            await asyncio.sleep(0.3)  # nothing more should come
            return [r for r in sim.received if r.code == "coa"]
        assert asyncio.get_running_loop().time() < deadline, got
        await asyncio.sleep(0.05)


async def test_threshold_crossing_throttles_exactly_the_covered_sessions(client, new_address):
    shop = await make_shop(upload_kbps=2000, download_kbps=4000)
    other_plan = await add_plan(shop, price=99, upload_kbps=8000, download_kbps=8000)
    busy = await router_with_sim(shop, new_address())
    quiet = await router_with_sim(shop, new_address())
    try:
        tenant = await shop_tenant(shop)
        _, headers = await make_user_headers(client, tenant=tenant)
        rule = await client.post(
            "/api/v1/fair-usage",
            headers=headers,
            json={"scope": "router", "threshold": 3, "rate_limit": THROTTLED,
                  "plan_id": shop.plan_id},
        )  # fmt: skip
        assert rule.status_code == 201, rule.text
        plan = await shop_plan(shop)
        covered = [await _start(shop, busy, await make_voucher(plan=plan), f"p{i}")
                   for i in range(3)]  # fmt: skip
        uncovered = await _start(
            shop, busy, await make_voucher(plan=await shop_plan(shop, other_plan)), "q"
        )
        elsewhere = await _start(shop, quiet, await make_voucher(plan=plan), "e")

        await _evaluate(shop)  # 4 users on `busy` > 3: its plan-P sessions are throttled
        throttled = await _coas(busy, 3)
        assert sorted(r.attributes["Acct-Session-Id"] for r in throttled) == sorted(covered)
        assert {r.attributes["Mikrotik-Rate-Limit"] for r in throttled} == {THROTTLED}
        assert uncovered in busy.sessions and not [r for r in quiet.received if r.code == "coa"]
        assert elsewhere in quiet.sessions
        await _evaluate(shop)  # nothing changed: nothing sent again
        await asyncio.sleep(0.3)
        assert len([r for r in busy.received if r.code == "coa"]) == 3

        # A new login on the busy router gets the throttled rate from FreeRADIUS itself.
        newcomer = await make_voucher(plan=plan)
        warm_up(busy.address, busy.secret.decode())
        reply = send("auth", hotspot_request(newcomer.code), src=busy.address,
                     secret=busy.secret.decode())  # fmt: skip
        assert reply.code == "Access-Accept" and reply["Mikrotik-Rate-Limit"] == THROTTLED
        # The same device on the quiet router (a second device a moment after the first would
        # be refused by the device limit: tests/radius/test_device_race.py).
        calm = send("auth", hotspot_request(newcomer.code),
                    src=quiet.address, secret=quiet.secret.decode())  # fmt: skip
        assert calm.code == "Access-Accept" and calm["Mikrotik-Rate-Limit"] == "2M/4M"

        # Load drops (a covered session stops): the remaining covered sessions get 2M/4M back.
        await accounting(kind="stop", tenant_id=shop.tenant_id, nas=busy.address,
                         username="x", unique=covered[0], session_time=60)  # fmt: skip
        await _evaluate(shop)
        restored = (await _coas(busy, 5))[3:]
        assert sorted(r.attributes["Acct-Session-Id"] for r in restored) == sorted(covered[1:])
        assert {r.attributes["Mikrotik-Rate-Limit"] for r in restored} == {"2M/4M"}
        states = await sql("SELECT * FROM fair_usage_state WHERE tenant_id = :t", t=shop.tenant_id)
        assert states == []
        done = await sql(
            "SELECT status FROM coa_request WHERE tenant_id = :t AND reason = 'fair_usage'",
            t=shop.tenant_id,
        )  # fmt: skip
        assert [d["status"] for d in done] == ["ack"] * 5
    finally:
        await busy.stop()
        await quiet.stop()


async def test_isp_wide_rule_counts_users_on_every_router(client, new_address):
    shop = await make_shop()
    sims = [await router_with_sim(shop, new_address()) for _ in range(2)]
    try:
        await sql(
            "INSERT INTO fair_usage_rule (tenant_id, scope, threshold, rate_limit) "
            "VALUES (:t, 'isp', 1, '512k/512k')", t=shop.tenant_id,
        )  # fmt: skip
        plan = await shop_plan(shop)
        first = await _start(shop, sims[0], await make_voucher(plan=plan), "i1")
        await _evaluate(shop)  # one user: not above 1
        await asyncio.sleep(0.3)
        assert not [r for r in sims[0].received if r.code == "coa"]
        second = await _start(shop, sims[1], await make_voucher(plan=plan), "i2")
        await _evaluate(shop)  # two users across the ISP: both throttled, each by its router
        [a] = await _coas(sims[0], 1)
        [b] = await _coas(sims[1], 1)
        assert (a.attributes["Acct-Session-Id"], b.attributes["Acct-Session-Id"]) == (first, second)
        assert (
            a.attributes["Mikrotik-Rate-Limit"]
            == b.attributes["Mikrotik-Rate-Limit"]
            == "512k/512k"
        )
    finally:
        for sim in sims:
            await sim.stop()


async def test_rules_are_validated(client):
    shop = await make_shop()
    tenant = await shop_tenant(shop)
    _, headers = await make_user_headers(client, tenant=tenant)
    for body in (
        {"scope": "router", "threshold": 5, "rate_limit": "fast"},
        {"scope": "planet", "threshold": 5, "rate_limit": "1M/1M"},
        {"scope": "isp", "threshold": -1, "rate_limit": "1M/1M"},
    ):
        assert (
            await client.post("/api/v1/fair-usage", headers=headers, json=body)
        ).status_code == 422
    other = await make_shop()
    theirs = {"scope": "isp", "threshold": 5, "rate_limit": "1M/1M", "plan_id": other.plan_id}
    assert (
        await client.post("/api/v1/fair-usage", headers=headers, json=theirs)
    ).status_code == 404
    rule = {"scope": "isp", "threshold": 5, "rate_limit": "1M/1M"}
    made = await client.post("/api/v1/fair-usage", headers=headers, json=rule)
    assert made.status_code == 201
    listed = await client.get("/api/v1/fair-usage", headers=headers)
    assert [r["id"] for r in listed.json()] == [made.json()["id"]]
    gone = await client.delete(f"/api/v1/fair-usage/{made.json()['id']}", headers=headers)
    assert gone.status_code == 204
    assert (await client.get("/api/v1/fair-usage", headers=headers)).json() == []
    actions = await sql(
        "SELECT action FROM audit_event WHERE tenant_id = :t AND action LIKE 'fair_usage%' "
        "ORDER BY id", t=shop.tenant_id,
    )  # fmt: skip
    assert [a["action"] for a in actions] == ["fair_usage.create", "fair_usage.delete"]


async def test_the_sweep_evaluates_an_isp_again_only_when_its_sessions_or_rules_change(
    client, new_address, monkeypatch
):
    """The worker's pass every 2 s reads each ISP's signature (sessions online, the newest, its
    rules) and evaluates only those that changed, and every ISP once a minute: a thousand ISPs
    with rules and nobody logging in or out are one query, not a thousand transactions."""
    shop = await make_shop()
    sim = await router_with_sim(shop, new_address())
    try:
        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        rule = await client.post("/api/v1/fair-usage", headers=headers, json={
            "scope": "router", "threshold": 5, "rate_limit": THROTTLED})  # fmt: skip
        assert rule.status_code == 201, rule.text
        plan = await shop_plan(shop)
        await _start(shop, sim, await make_voucher(plan=plan), "a")
        seen: list[int] = []
        real = fairuse.evaluate

        async def spy(session, tenant_id):  # the real evaluation, noted
            seen.append(tenant_id)
            return await real(session, tenant_id)

        monkeypatch.setattr(fairuse, "evaluate", spy)
        monkeypatch.setattr(tasks, "_last_full", [time.monotonic()])  # no full pass meanwhile

        async def evaluated() -> bool:
            seen.clear()
            await tasks.evaluate_fair_usage()
            return shop.tenant_id in seen

        assert await evaluated()  # first seen
        assert not await evaluated()  # nothing changed
        await _start(shop, sim, await make_voucher(plan=plan), "b")
        assert await evaluated()  # a login
        assert not await evaluated()
        await sql("UPDATE fair_usage_rule SET threshold = 1 WHERE tenant_id = :t",
                  t=shop.tenant_id)  # fmt: skip
        assert await evaluated()  # a rule changed: 2 online > 1, both throttled
        assert len(await _coas(sim, 2)) == 2
        assert not await evaluated()
        monkeypatch.setattr(tasks, "_last_full", [0.0])
        assert await evaluated()  # the minute's pass over every ISP
    finally:
        await sim.stop()


async def test_logins_look_up_crossed_rules_while_the_isp_has_any(client, new_address):
    """FreeRADIUS reads fair_usage_state only while tenant.fair_usage_states says the ISP has a
    rule crossed (migration 0023): the count follows every insert and delete, cascades too, so a
    new login gets the throttled rate exactly while a rule is crossed and the plan's rate after."""
    shop = await make_shop(upload_kbps=2000, download_kbps=4000)
    other = await make_shop()
    sim = await router_with_sim(shop, new_address())
    try:
        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        made = await client.post("/api/v1/fair-usage", headers=headers, json={
            "scope": "isp", "threshold": 1, "rate_limit": THROTTLED})  # fmt: skip
        assert made.status_code == 201, made.text
        plan = await shop_plan(shop)

        async def count(shop_) -> int:
            [row] = await sql("SELECT fair_usage_states AS n FROM tenant WHERE id = :t",
                              t=shop_.tenant_id)  # fmt: skip
            return row["n"]

        def login(code: str):
            return send("auth", hotspot_request(code), src=sim.address,
                        secret=sim.secret.decode())  # fmt: skip

        await _start(shop, sim, await make_voucher(plan=plan), "c1")
        await _start(shop, sim, await make_voucher(plan=plan), "c2")
        await _evaluate(shop)  # two online > 1: crossed
        assert await count(shop) == 1 and await count(other) == 0
        warm_up(sim.address, sim.secret.decode())
        reply = login((await make_voucher(plan=plan)).code)
        assert reply.code == "Access-Accept" and reply["Mikrotik-Rate-Limit"] == THROTTLED
        await _evaluate(shop)  # re-evaluated (state replaced): still one
        assert await count(shop) == 1

        # The rule is retired: the next evaluation clears its state, and the count with it.
        gone = await client.delete(f"/api/v1/fair-usage/{made.json()['id']}", headers=headers)
        assert gone.status_code == 204
        await _evaluate(shop)
        assert await count(shop) == 0
        reply = login((await make_voucher(plan=plan)).code)
        assert reply.code == "Access-Accept" and reply["Mikrotik-Rate-Limit"] == "2M/4M"

        # A rule removed from the table takes its state by cascade: counted down too.
        [rule] = await sql(
            "INSERT INTO fair_usage_rule (tenant_id, scope, threshold, rate_limit) "
            "VALUES (:t, 'isp', 1, :rate) RETURNING id", t=shop.tenant_id, rate=THROTTLED,
        )  # fmt: skip
        await _evaluate(shop)
        assert await count(shop) == 1
        await sql("DELETE FROM fair_usage_rule WHERE id = :id", id=rule["id"])
        assert await sql("SELECT 1 FROM fair_usage_state WHERE tenant_id = :t",
                         t=shop.tenant_id) == []  # fmt: skip
        assert await count(shop) == 0
    finally:
        await sim.stop()
