"""Subscribers paying monthly, against the real stack: radclient plays a RouterOS PPPoE server,
a router simulator holds the live sessions (radius/router_sim.py), the fake Daraja plays
M-Pesa, and the stack's worker sends the Disconnects. An expired subscriber is in the expired
pool; a paybill payment with their username renews them, their live expired session is
disconnected, and the next login gets the normal pool and rate; replays renew nothing more.
Partial payments accumulate; an STK push for the bill renews; the expiry sweep disconnects a
live session once (however many sweeps race); a suspension disconnects."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from api.subscribers import tasks as subscriber_tasks
from radius.router_sim import RouterSim
from tests.payshop import Shop, fake, make_shop, money, new_receipt, stk_body
from tests.radius.conftest import sql
from tests.radius.radclient import send, warm_up
from tests.radius.test_subscribers import make_subscriber, ppp_request
from tests.test_payment_c2b import c2b_body, confirm

RUN = secrets.token_hex(3)
PRICE = 1500  # make_subscriber's plan


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def isp_with_router(address: str) -> tuple[Shop, dict, RouterSim]:
    """An ISP that takes M-Pesa, with one router at `address` whose CoA port is a simulator."""
    shop = await make_shop()
    secret = secrets.token_urlsafe(18)
    sim = RouterSim(address, secret.encode())
    await sim.start()
    [router] = await sql(
        "INSERT INTO router (tenant_id, name, ip_address, secret, coa_port) "
        "VALUES (:t, :n, :a, :s, :p) RETURNING id",
        t=shop.tenant_id, n="r-" + secrets.token_hex(3), a=address, s=secret, p=sim.port,
    )  # fmt: skip
    warm_up(address, secret)
    isp = {"tenant_id": shop.tenant_id, "router_id": router["id"], "address": address,
           "secret": secret}  # fmt: skip
    return shop, isp, sim


def login(isp: dict, username: str) -> dict:
    reply = send("auth", ppp_request(username, "mschap2"), src=isp["address"],
                 secret=isp["secret"])  # fmt: skip
    assert reply.code == "Access-Accept", reply.output
    return reply.attrs


async def online(
    isp: dict, sim: RouterSim, username: str, name: str, ago: timedelta = timedelta(0)
) -> str:
    """The router reports the PPP session (Accounting-Start, `ago`) and holds it."""
    session_id = f"{name}-{RUN}"
    await sql(
        "SELECT radius_accounting('start', :t, :nas, :u, :sid, :user, :ts, '0', 0, 0, "
        "'4C:5E:0C:11:22:33', 'pppoe-service', '', '', '10.30.0.9', 'ether2', 'Ethernet', "
        "'Framed-User', 'PPP', 'RADIUS', '')",
        t=str(isp["tenant_id"]), nas=isp["address"], u=f"u-{session_id}", sid=session_id,
        user=username, ts=str(int((datetime.now(UTC) - ago).timestamp())),
    )  # fmt: skip
    sim.sessions[session_id] = {"User-Name": username, "Framed-IP-Address": "10.30.0.9"}
    return session_id


async def finished_requests(subscriber_id: int, want: int, wait: float = 15) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        rows = await sql(
            "SELECT * FROM coa_request WHERE subscriber_id = :s ORDER BY id", s=subscriber_id
        )
        done = [dict(r) for r in rows if r["status"] != "pending"]
        if len(done) >= want:
            return done
        assert asyncio.get_running_loop().time() < deadline, rows
        await asyncio.sleep(0.1)


async def subscriber(subscriber_id: int) -> dict:
    [row] = await sql("SELECT * FROM subscriber WHERE id = :s", s=subscriber_id)
    return dict(row)


async def renewals(subscriber_id: int) -> list[dict]:
    rows = await sql(
        "SELECT * FROM subscriber_payment WHERE subscriber_id = :s ORDER BY id", s=subscriber_id
    )
    return [dict(r) for r in rows]


async def test_paybill_payment_brings_an_expired_session_back_within_seconds(client, new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp, username="Wanjiku.K", due_in=-timedelta(days=3))
        expired = login(isp, sub["username"])
        assert expired["Framed-Pool"] == "expired"
        assert expired["Mikrotik-Address-List"] == "expired"
        assert "Mikrotik-Rate-Limit" not in expired
        session_id = await online(isp, sim, sub["username"], "exp1")
        before = await subscriber(sub["id"])

        body = c2b_body(amount=PRICE, ref="WANJIKU.K")  # the customer types it in capitals
        await confirm(client, shop, body)

        [done] = await finished_requests(sub["id"], 1)
        assert (done["kind"], done["reason"], done["status"]) == ("disconnect", "renewed", "ack")
        [got] = [r for r in sim.received if r.code == "disconnect"]
        assert got.attributes["Acct-Session-Id"] == session_id
        assert session_id not in sim.sessions
        renewed = login(isp, sub["username"])
        assert renewed["Framed-Pool"] == "pppoe"
        assert renewed["Mikrotik-Rate-Limit"] == "5M/10M"
        assert "Mikrotik-Address-List" not in renewed
        after = await subscriber(sub["id"])
        # From today (the due date was in the past), one month.
        now = datetime.now(UTC)
        assert now + timedelta(days=27) < after["due_at"] <= now + timedelta(days=32)
        [renewal] = await renewals(sub["id"])
        assert (renewal["amount"], renewal["months"], renewal["receipt"]) == (
            PRICE, 1, body["TransID"])  # fmt: skip
        assert renewal["due_before"] == before["due_at"]
        audit = await sql(
            "SELECT actor FROM audit_event WHERE tenant_id = :t AND action = 'subscriber.renew'",
            t=shop.tenant_id,
        )  # fmt: skip
        assert [a["actor"] for a in audit] == ["system"]

        await confirm(client, shop, body)  # Daraja delivers it again

        assert await renewals(sub["id"]) == [renewal]
        assert (await subscriber(sub["id"]))["due_at"] == after["due_at"]
        assert len((await money(shop.tenant_id))["payments"]) == 1
        assert len(await sql("SELECT id FROM coa_request WHERE subscriber_id = :s",
                             s=sub["id"])) == 1  # fmt: skip
    finally:
        await sim.stop()


async def test_partial_payments_accumulate_and_renew_from_the_due_date(client, new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp, due_in=timedelta(days=5))
        due = (await subscriber(sub["id"]))["due_at"]
        await confirm(client, shop, c2b_body(amount=1000, ref=sub["username"]))
        first = await subscriber(sub["id"])
        assert (first["balance"], first["due_at"]) == (1000, due)
        # 1000 + 2500 = 3500: two months, 500 left, from the due date (still ahead).
        await confirm(client, shop, c2b_body(amount=2500, ref=sub["username"]))
        second = await subscriber(sub["id"])
        assert second["balance"] == 500
        [months] = await sql("SELECT CAST(:d AS timestamptz) + interval '2 months' AS m", d=due)
        assert second["due_at"] == months["m"]
        assert [(r["months"], r["balance_after"]) for r in await renewals(sub["id"])] == [
            (0, 1000), (2, 500)]  # fmt: skip
        # Paid ahead: no live session was expired, so nothing is disconnected.
        assert await sql("SELECT id FROM coa_request WHERE subscriber_id = :s", s=sub["id"]) == []
    finally:
        await sim.stop()


async def test_an_unknown_account_is_held_as_before(client, new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        await make_subscriber(isp, username="known-user")
        body = c2b_body(amount=PRICE, ref="unknown-user")
        await confirm(client, shop, body)
        [payment] = (await money(shop.tenant_id))["payments"]
        assert payment["status"] == "held" and "no voucher, phone or purchase" in payment["note"]
        assert await sql("SELECT id FROM subscriber_payment WHERE tenant_id = :t",
                         t=shop.tenant_id) == []  # fmt: skip
    finally:
        await sim.stop()


async def test_an_stk_push_for_the_bill_renews(client, new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp, due_in=-timedelta(days=1))
        await sql("UPDATE subscriber SET phone = '254712000111', balance = 400 WHERE id = :s",
                  s=sub["id"])  # fmt: skip
        from tests.factories import make_user_headers  # noqa: PLC0415
        from tests.payshop import shop_tenant  # noqa: PLC0415

        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        response = await client.post(f"/api/v1/subscribers/{sub['id']}/bill", json={},
                                     headers=headers)  # fmt: skip
        assert response.status_code == 202, response.text
        public_id = response.json()["purchase_id"]
        [push] = await sql("SELECT * FROM stk_request WHERE public_id = CAST(:p AS uuid)",
                           p=public_id)  # fmt: skip
        assert (push["amount"], push["subscriber_id"], push["plan_id"]) == (1100, sub["id"], None)
        receipt = new_receipt()
        body = stk_body(push["checkout_request_id"], amount=1100, receipt=receipt,
                        phone="254712000111")  # fmt: skip
        for _ in range(2):  # the callback, and its replay
            answer = await client.post(shop.hook("stk"), json=body)
            assert answer.status_code == 200, answer.text
        [renewal] = await renewals(sub["id"])
        assert (renewal["amount"], renewal["months"], renewal["receipt"]) == (1100, 1, receipt)
        assert (await subscriber(sub["id"]))["balance"] == 0
        status = await client.get(f"/api/v1/portal/purchases/{public_id}", headers=shop.host)
        assert status.json()["status"] == "paid"
    finally:
        await sim.stop()


async def test_the_expiry_sweep_disconnects_once_even_racing(new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp, due_in=timedelta(days=1))
        session_id = await online(isp, sim, sub["username"], "sweep1", timedelta(minutes=10))
        await sql("UPDATE subscriber SET due_at = now() - interval '1 minute' WHERE id = :s",
                  s=sub["id"])  # fmt: skip

        # Two workers at once, then again: the unique (subscriber, due date) decides once.
        await asyncio.gather(subscriber_tasks.sweep_expiries(), subscriber_tasks.sweep_expiries())
        await subscriber_tasks.sweep_expiries()

        [done] = await finished_requests(sub["id"], 1)
        assert (done["reason"], done["status"]) == ("expired", "ack")
        assert session_id not in sim.sessions
        [expiry] = await sql("SELECT * FROM subscriber_expiry WHERE subscriber_id = :s",
                             s=sub["id"])  # fmt: skip
        assert expiry["sessions"] == 1
        assert [r.code for r in sim.received] == ["disconnect"]
        # The router logs the customer in again: expired pool, and the sweep leaves it alone.
        assert login(isp, sub["username"])["Framed-Pool"] == "expired"
        await online(isp, sim, sub["username"], "sweep2")
        await subscriber_tasks.sweep_expiries()
        assert len(await sql("SELECT id FROM coa_request WHERE subscriber_id = :s",
                             s=sub["id"])) == 1  # fmt: skip
    finally:
        await sim.stop()


async def test_the_grace_period_holds_the_sweep_back(new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        await sql("UPDATE tenant SET subscriber_grace_days = 2 WHERE id = :t", t=shop.tenant_id)
        sub = await make_subscriber(isp, due_in=-timedelta(days=1))
        await online(isp, sim, sub["username"], "grace1")
        await subscriber_tasks.sweep_expiries()
        assert await sql("SELECT id FROM subscriber_expiry WHERE subscriber_id = :s",
                         s=sub["id"]) == []  # fmt: skip
    finally:
        await sim.stop()


async def test_suspending_disconnects_the_live_session(client, new_address):
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp)
        session_id = await online(isp, sim, sub["username"], "susp1")
        from tests.factories import make_user_headers  # noqa: PLC0415
        from tests.payshop import shop_tenant  # noqa: PLC0415

        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        response = await client.patch(f"/api/v1/subscribers/{sub['id']}",
                                      json={"status": "suspended"}, headers=headers)  # fmt: skip
        assert response.status_code == 200, response.text
        [done] = await finished_requests(sub["id"], 1)
        assert (done["reason"], done["status"]) == ("suspended", "ack")
        assert session_id not in sim.sessions
        reply = send("auth", ppp_request(sub["username"], "pap"), src=isp["address"],
                     secret=isp["secret"])  # fmt: skip
        assert reply.code == "Access-Reject"
    finally:
        await sim.stop()


async def test_the_expired_page_says_how_to_pay_and_what_https_does(client):
    shop = await make_shop()
    page = await client.get("/expired", headers=shop.host)
    assert page.status_code == 200
    assert "174379" in page.text or 'id="paybill"' in page.text  # the sandbox paybill
    assert "Account number: your PPPoE username" in page.text
    assert "https://" in page.text and 'href="/account"' in page.text
    swahili = await client.get("/expired?lang=sw", headers=shop.host)
    assert "Nambari ya akaunti" in swahili.text
    assert (await client.get("/expired", headers={"host": "nobody.example"})).status_code == 404


async def test_a_bill_paid_after_the_subscriber_was_removed_is_held_for_staff(client, new_address):
    """The prompt went out, staff removed the subscriber, then the customer paid: the money is
    held with why (staff resolve it), not granted with nothing credited."""
    shop, isp, sim = await isp_with_router(new_address())
    try:
        sub = await make_subscriber(isp)
        await sql("UPDATE subscriber SET phone = '254712000222' WHERE id = :s", s=sub["id"])
        from tests.factories import make_user_headers  # noqa: PLC0415
        from tests.payshop import shop_tenant  # noqa: PLC0415

        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        response = await client.post(f"/api/v1/subscribers/{sub['id']}/bill", json={},
                                     headers=headers)  # fmt: skip
        assert response.status_code == 202, response.text
        [push] = await sql("SELECT * FROM stk_request WHERE subscriber_id = :s", s=sub["id"])
        removed = await client.delete(f"/api/v1/subscribers/{sub['id']}", headers=headers)
        assert removed.status_code == 204, removed.text
        body = stk_body(push["checkout_request_id"], amount=float(push["amount"]),
                        receipt=new_receipt(), phone="254712000222")  # fmt: skip
        assert (await client.post(shop.hook("stk"), json=body)).status_code == 200
        [payment] = await sql("SELECT * FROM payment WHERE stk_request_id = :r", r=push["id"])
        assert payment["status"] == "held" and "removed" in payment["note"]
        held = (await money(shop.tenant_id))["payments"]
        assert [p["status"] for p in held] == ["held"]
    finally:
        await sim.stop()
