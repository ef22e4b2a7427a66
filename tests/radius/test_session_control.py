"""Session control against simulated MikroTiks (radius/router_sim.py): Disconnect reaches every
router holding a voucher's sessions, NAK and timeout are recorded and retried within bounds, an
extension sends the new Session-Timeout (and a NAK turns into a Disconnect), and a voucher that
expires with a live session gets a Disconnect. The stack's worker sends, as in production."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from api.config import get_settings
from api.sessions import tasks
from radius.coa import CoAClient
from radius.router_sim import RouterSim
from tests.factories import accounting, make_user_headers, make_voucher
from tests.payshop import buy, fake, make_shop, phone, shop_plan, shop_tenant, wait_status
from tests.radius.conftest import sql

RUN = secrets.token_hex(3)  # acctuniqueid is unique across runs on one database


def sid(name: str) -> str:
    return f"{name}-{RUN}"


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def router_with_sim(shop, address: str) -> RouterSim:
    """A router of the shop at `address`, with a simulator on its CoA port."""
    secret = secrets.token_urlsafe(18)
    sim = RouterSim(address, secret.encode())
    await sim.start()
    await sql(
        "INSERT INTO router (tenant_id, name, ip_address, secret, coa_port) "
        "VALUES (:t, :n, :a, :s, :p)",
        t=shop.tenant_id, n="r-" + secrets.token_hex(3), a=address, s=secret, p=sim.port,
    )  # fmt: skip
    return sim


async def online(shop, sim: RouterSim, code: str, session_id: str, mac: str) -> None:
    """The router says the device is online (Accounting-Start), and knows the session."""
    await accounting(kind="start", tenant_id=shop.tenant_id, nas=sim.address, username=code,
                     unique=session_id, mac=mac)  # fmt: skip
    sim.sessions[session_id] = {"User-Name": code}


async def requests_for(voucher_code: str, tenant_id: int, want: int, wait: float = 15) -> list:
    """The voucher's CoA requests once `want` of them are finished."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        rows = await sql(
            "SELECT c.* FROM coa_request c JOIN voucher v ON v.id = c.voucher_id "
            "WHERE v.code = :c AND c.tenant_id = :t ORDER BY c.id", c=voucher_code, t=tenant_id,
        )  # fmt: skip
        done = [dict(r) for r in rows if r["status"] != "pending"]
        if len(done) >= want:
            return done
        assert asyncio.get_running_loop().time() < deadline, rows
        await asyncio.sleep(0.1)


def attrs(row: dict) -> dict:
    value = row["attributes"]
    return json.loads(value) if isinstance(value, str) else value


async def _headers(client, shop):
    return (await make_user_headers(client, tenant=await shop_tenant(shop)))[1]


async def _voucher(shop, device_limit: int = 3):
    plan = await shop_plan(shop)
    return await make_voucher(plan=plan, device_limit=device_limit)


async def test_disconnect_reaches_every_router_holding_the_voucher(client, new_address):
    shop = await make_shop()
    sims = [await router_with_sim(shop, new_address()) for _ in range(2)]
    try:
        voucher = await _voucher(shop)
        await online(shop, sims[0], voucher.code, sid("80f0a1"), "AA:00:00:00:00:01")
        await online(shop, sims[1], voucher.code, sid("80f0b2"), "AA:00:00:00:00:02")
        other = await _voucher(shop)
        await online(shop, sims[0], other.code, sid("80f0c3"), "AA:00:00:00:00:03")
        response = await client.post(
            f"/api/v1/vouchers/{voucher.code}/disconnect", headers=await _headers(client, shop)
        )
        assert response.status_code == 202 and len(response.json()["requests"]) == 2
        done = await requests_for(voucher.code, shop.tenant_id, 2)
        assert {r["status"] for r in done} == {"ack"}
        for sim, session_id in ((sims[0], sid("80f0a1")), (sims[1], sid("80f0b2"))):
            [got] = [r for r in sim.received if r.code == "disconnect"]
            assert got.attributes["Acct-Session-Id"] == session_id
            assert got.attributes["User-Name"] == voucher.code
            assert "NAS-IP-Address" not in got.attributes
        assert sid("80f0c3") in sims[0].sessions  # the other voucher's device stays online
    finally:
        for sim in sims:
            await sim.stop()


async def test_revoking_disconnects_and_a_ghost_nak_closes_the_session(client, new_address):
    shop = await make_shop()
    sim = await router_with_sim(shop, new_address())
    try:
        voucher = await _voucher(shop)
        await online(shop, sim, voucher.code, sid("90aa01"), "AA:00:00:00:01:01")
        # A second open session the router does not have (lost Stop): a ghost.
        await accounting(
            kind="start",
            tenant_id=shop.tenant_id,
            nas=sim.address,
            username=voucher.code,
            unique=sid("90aa02"),
            mac="AA:00:00:00:01:02",
        )
        revoked = await client.post(
            f"/api/v1/vouchers/{voucher.code}/revoke", headers=await _headers(client, shop)
        )
        assert revoked.status_code == 200
        done = await requests_for(voucher.code, shop.tenant_id, 2)
        by_session = {attrs(r)["Acct-Session-Id"]: r for r in done}
        assert by_session[sid("90aa01")]["status"] == "ack"
        assert by_session[sid("90aa01")]["reason"] == "revoked"
        ghost = by_session[sid("90aa02")]
        assert (ghost["status"], ghost["error_cause"]) == ("nak", 503)
        [row] = await sql("SELECT * FROM radacct WHERE acctsessionid = :s", s=sid("90aa02"))
        assert row["acctstoptime"] is not None and row["acctterminatecause"] == "Session-Not-Found"
    finally:
        await sim.stop()


async def test_timeouts_are_retried_in_bounded_rounds(new_address, monkeypatch):
    """A silent router: each round resends (client retries), rounds are spaced by the
    configured delays, and after the last one the request is recorded as timed out."""
    monkeypatch.setenv("MNETIFI_COA_ROUND_DELAYS", "3600,3600")  # the stack's worker stays out
    get_settings.cache_clear()
    shop = await make_shop()
    sim = await router_with_sim(shop, new_address())
    client = CoAClient(timeout=0.05, retries=1)
    await client.open()
    try:
        sim.answer("silent")
        voucher = await _voucher(shop)
        await online(shop, sim, voucher.code, sid("a0b0c0"), "AA:00:00:00:02:01")
        [row] = await sql(
            "SELECT a.radacctid FROM radacct a WHERE a.acctsessionid = :s AND tenant_id = :t",
            t=shop.tenant_id, s=sid("a0b0c0"),
        )  # fmt: skip
        [req] = await sql(
            "INSERT INTO coa_request (tenant_id, router_id, radacct_id, voucher_id, kind, reason, "
            "attributes, next_try_at) SELECT :t, r.id, :acct, :v, 'disconnect', 'admin', "
            "CAST(:attrs AS jsonb), now() + interval '1 day' FROM router r "
            "WHERE r.ip_address = :a RETURNING id",
            t=shop.tenant_id, acct=row["radacctid"], v=voucher.id, a=sim.address,
            attrs=json.dumps({"User-Name": voucher.code, "Acct-Session-Id": sid("a0b0c0")}),
        )  # fmt: skip
        ctx = {"coa": client}

        async def round_now() -> str:
            await sql("UPDATE coa_request SET next_try_at = now() WHERE id = :i", i=req["id"])
            return await tasks.send(ctx, req["id"])

        assert await tasks.send(ctx, req["id"]) == "done"  # not due yet: nobody sends it
        assert await round_now() == "retry"
        [waiting] = await sql("SELECT * FROM coa_request WHERE id = :i", i=req["id"])
        assert waiting["next_try_at"] > waiting["created_at"]  # the next round is an hour away
        assert await round_now() == "retry"
        assert await round_now() == "timeout"
        assert await round_now() == "done"  # finished: never sent again
        [final] = await sql("SELECT * FROM coa_request WHERE id = :i", i=req["id"])
        assert (final["status"], final["rounds"], final["attempts"]) == ("timeout", 3, 6)
        assert len(sim.received) == 6  # 3 rounds x (1 send + 1 retry)
    finally:
        await client.close()
        await sim.stop()
        get_settings.cache_clear()


async def test_extension_sends_the_new_session_timeout_and_a_nak_becomes_a_disconnect(
    client, new_address
):
    shop = await make_shop(duration_seconds=3600)
    sim = await router_with_sim(shop, new_address())
    try:
        msisdn = phone()
        first = (await buy(client, shop, msisdn)).json()
        code = (await wait_status(client, shop, first["id"], "paid"))["voucher"]["code"]
        await sql(
            "UPDATE voucher SET first_used_at = now(), expires_at = now() + interval "
            "'1 hour' WHERE code = :c AND tenant_id = :t",
            c=code,
            t=shop.tenant_id,
        )
        await online(shop, sim, code, sid("b1b1b1"), "AA:00:00:00:03:01")
        again = (await buy(client, shop, msisdn, voucher_code=code)).json()
        await wait_status(client, shop, again["id"], "paid")
        [coa] = await requests_for(code, shop.tenant_id, 1)
        assert (coa["kind"], coa["reason"], coa["status"]) == ("coa", "extended", "ack")
        [got] = [r for r in sim.received if r.code == "coa"]
        assert 7000 < int(got.attributes["Session-Timeout"]) <= 7200
        assert got.attributes["Acct-Session-Id"] == sid("b1b1b1")
        assert sim.sessions[sid("b1b1b1")]["Session-Timeout"] == got.attributes["Session-Timeout"]

        sim.answer("nak", error_cause=406)  # the router won't change it: disconnect instead
        third = (await buy(client, shop, msisdn, voucher_code=code)).json()
        await wait_status(client, shop, third["id"], "paid")
        done = await requests_for(code, shop.tenant_id, 3)
        assert [(r["kind"], r["status"]) for r in done[1:]] == [
            ("coa", "nak"),
            ("disconnect", "nak"),
        ]
    finally:
        await sim.stop()


async def test_a_voucher_expiring_with_a_live_session_gets_a_disconnect(new_address):
    shop = await make_shop()
    sim = await router_with_sim(shop, new_address())
    try:
        voucher = await _voucher(shop)
        await online(shop, sim, voucher.code, sid("c2c2c2"), "AA:00:00:00:04:01")
        await sql(
            "UPDATE voucher SET first_used_at = now() - interval '2 hours', "
            "expires_at = now() - interval '1 minute' WHERE id = :v",
            v=voucher.id,
        )
        [done] = await requests_for(voucher.code, shop.tenant_id, 1, wait=20)  # the worker's sweep
        assert (done["kind"], done["reason"], done["status"]) == ("disconnect", "expired", "ack")
        assert sid("c2c2c2") not in sim.sessions
    finally:
        await sim.stop()
