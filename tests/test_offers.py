"""Offers to consenting customers (issue 15): consent ticked at a paid purchase, STOP by SMS
through Africa's Talking's incoming-message callback (played by the fake), broadcasts expanded
by the worker exactly once per phone and channel, quiet hours that hold offers (and nothing
urgent) until they end, and the clear refusals."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from api.db import unit_of_work
from api.messaging import outbox, quiet
from api.messaging.quiet import EAT, is_quiet, quiet_until
from api.offers import tasks
from api.sms.service import send_sms
from tests.offers_world import (
    BROADCASTS,
    offer_isp,
    offer_messages,
    opted_in,
    phone,
    settled,
    texted,
    texts,
)
from tests.payshop import buy, make_shop, wait_status
from tests.payshop import phone as msisdn
from tests.radius.conftest import sql

# ------------------------------------------------------------------ the quiet-hours rule


@pytest.mark.parametrize(
    ("hour", "start", "end", "quiet_now"),
    [
        (22, 21, 7, True), (3, 21, 7, True), (21, 21, 7, True),  # wraps midnight; from is in
        (7, 21, 7, False), (12, 21, 7, False), (20, 21, 7, False),  # to is out
        (13, 13, 15, True), (14, 13, 15, True), (15, 13, 15, False), (12, 13, 15, False),
        (0, 0, 1, True), (23, 23, 0, True), (0, 23, 0, False),
        (9, 9, 9, False), (0, 0, 0, False),  # from == to: no quiet hours, never all day
        (3, None, None, False),
    ],
)  # fmt: skip
def test_quiet_hours_rule(hour, start, end, quiet_now):
    assert is_quiet(hour, start, end) is quiet_now


def test_quiet_until_is_the_next_end_in_eat():
    late = datetime(2026, 12, 6, 22, 30, tzinfo=EAT)
    assert quiet_until(late, 21, 7) == datetime(2026, 12, 7, 7, 0, tzinfo=EAT)
    early = datetime(2026, 12, 7, 5, 59, 59, tzinfo=EAT)
    assert quiet_until(early, 21, 7) == datetime(2026, 12, 7, 7, 0, tzinfo=EAT)
    assert quiet_until(early.replace(hour=7, minute=0, second=0), 21, 7) is None
    # An aware time in UTC is judged in EAT (UTC+3): 19:00 UTC is 22:00 EAT.
    assert quiet_until(datetime(2026, 12, 6, 19, 0, tzinfo=UTC), 21, 7) is not None
    assert quiet_until(datetime(2026, 12, 6, 17, 59, tzinfo=UTC), 21, 7) is None


def _hours_around_now(inside: bool) -> dict[str, int]:
    hour = datetime.now(EAT).hour
    if inside:
        return {"quiet_hours_from": hour, "quiet_hours_to": (hour + 2) % 24}
    return {"quiet_hours_from": (hour + 2) % 24, "quiet_hours_to": (hour + 4) % 24}


# ------------------------------------------------------------------ consent at a purchase


async def _consent(tenant_id: int, number: str) -> dict | None:
    rows = await sql(
        "SELECT * FROM offer_consent WHERE tenant_id = :t AND phone = :p", t=tenant_id, p=number
    )
    return dict(rows[0]) if rows else None


async def test_opt_in_is_recorded_only_when_ticked_and_paid(client):
    shop = await make_shop()
    ticked, unticked, unpaid = msisdn(), msisdn(), "254700000001"  # the last one cancels
    first = await buy(client, shop, ticked, offers=True, language="sw")
    second = await buy(client, shop, unticked)
    third = await buy(client, shop, unpaid, offers=True)
    for response in (first, second, third):
        assert response.status_code == 202, response.text
    await wait_status(client, shop, first.json()["id"], "paid")
    await wait_status(client, shop, second.json()["id"], "paid")
    await wait_status(client, shop, third.json()["id"], "failed")

    row = await _consent(shop.tenant_id, "+" + ticked)
    assert row is not None
    assert (row["status"], row["opted_in_source"], row["opted_in_ref"], row["language"]) == (
        "in", "purchase", first.json()["id"], "sw",
    )  # fmt: skip
    assert row["opted_in_at"] is not None and row["opted_out_at"] is None
    assert await _consent(shop.tenant_id, "+" + unticked) is None
    assert await _consent(shop.tenant_id, "+" + unpaid) is None  # ticked, never paid


# ------------------------------------------------------------------ STOP


async def test_stop_through_africas_talking_opts_out_and_confirms_once(client):
    tenant, headers, sms = await offer_isp(client)
    customer, other = phone(), phone()
    await opted_in(tenant.id, customer, other)

    # AT delivers the callback twice (a retry): recorded once, confirmed once.
    played = await texted(sms, customer, "  stop \n", repeat=2)
    assert [d["status_code"] for d in played["deliveries"]] == [200, 200]
    assert [d["answer"] for d in played["deliveries"]] == [
        '{"status":"recorded"}', '{"status":"replayed"}',
    ]  # fmt: skip
    row = await _consent(tenant.id, customer)
    assert row is not None
    assert (row["status"], row["opted_out_source"], row["opted_out_ref"]) == (
        "out", "sms-stop", played["id"],
    )  # fmt: skip
    [inbound] = await sql("SELECT * FROM inbound_sms WHERE tenant_id = :t", t=tenant.id)
    assert (inbound["sender"], inbound["body"], inbound["action"]) == (customer, "  stop \n",
                                                                        "opt-out")  # fmt: skip
    assert inbound["to_number"] == sms["shortcode"] and inbound["link_id"]
    [confirmation] = await texts(customer)
    assert "no more offers" in confirmation
    # A sentence with "stop" in it is a message, not a STOP; Kiswahili's ACHA is one.
    await texted(sms, other, "please stop the noise")
    assert (await _consent(tenant.id, other))["status"] == "in"
    await texted(sms, other, "Acha")
    assert (await _consent(tenant.id, other))["status"] == "out"
    counts = await client.get(f"{BROADCASTS}/consent", headers=headers)
    assert counts.json() == {"consenting": 0, "opted_out": 2}

    # The next offer skips them: nobody left to reach.
    stayed = phone()
    await opted_in(tenant.id, stayed)
    sent = await client.post(BROADCASTS, headers=headers, json={"text": "Weekend: 2 GB for 50",
                                                                "channels": ["sms"]})  # fmt: skip
    assert sent.status_code == 201, sent.text
    assert sent.json()["audience"] == 1
    await tasks.drain()
    rows = await settled(sent.json()["id"], {"delivered"})
    assert [r["recipient"] for r in rows] == [stayed]
    assert await texts(customer) == [confirmation]


async def test_a_forged_inbound_url_is_refused_and_records_nothing(client):
    tenant, _, sms = await offer_isp(client)
    other, _, other_sms = await offer_isp(client)
    customer = phone()
    await opted_in(tenant.id, customer)
    good = sms["inbound_url"].split("/hooks/", 1)[1]
    other_token = other_sms["inbound_url"].split("/")[-3]
    form = {"from": customer, "to": sms["shortcode"], "text": "STOP", "id": "ATXid_forged",
            "date": "2026-12-06 10:00:00", "linkId": "x", "networkCode": "63902"}  # fmt: skip
    for path in (
        f"/hooks/{tenant.id}/{'0' * 64}/sms/inbound",  # a guessed token
        f"/hooks/{tenant.id}/{other_token}/sms/inbound",  # another ISP's token
        f"/hooks/{other.id}/{good.split('/')[1]}/sms/inbound",  # this token, another ISP
        f"/hooks/x{tenant.id}/{good.split('/')[1]}/sms/inbound",
    ):
        response = await client.post(path, data=form)
        assert response.status_code == 404, (path, response.text)
    assert await sql("SELECT * FROM inbound_sms WHERE tenant_id IN (:a, :b)", a=tenant.id,
                     b=other.id) == []  # fmt: skip
    assert (await _consent(tenant.id, customer))["status"] == "in"
    assert await texts(customer) == []
    # The right URL with a malformed message: 422, nothing recorded either.
    bad = await client.post(f"/hooks/{good}", data=form | {"from": "not a phone"})
    assert bad.status_code == 422
    assert await sql("SELECT * FROM inbound_sms WHERE tenant_id = :t", t=tenant.id) == []


# ------------------------------------------------------------------ broadcasts


async def test_an_offer_reaches_each_consenting_phone_once_with_workers_racing(client):
    tenant, headers, sms = await offer_isp(client)
    phones = sorted(phone() for _ in range(9))
    await opted_in(tenant.id, *phones[:8])
    await opted_in(tenant.id, phones[8], language="sw")
    await opted_in(tenant.id, "+255712345678")  # outside the ISP's prefixes (+254)
    capped = phones[0]
    await sql("UPDATE tenant SET message_daily_cap = 1 WHERE id = :t", t=tenant.id)
    async with unit_of_work() as session:  # the cap's one message of the day
        await send_sms(session, tenant.id, capped, "Your code is 123456", "otp", "otp:cap")

    audience = await client.get(f"{BROADCASTS}/audience", headers=headers)
    assert audience.json() == {"recipients": 9, "channels": ["sms"],
                               "stop_to": sms["shortcode"], "problem": None}  # fmt: skip
    body = {"text": "Usiku: 1 GB for 20 bob", "channels": ["sms"]}
    sent = await client.post(BROADCASTS, headers=headers, json=body)
    assert sent.status_code == 201, sent.text
    offer = sent.json()
    assert (offer["audience"], offer["status"], offer["stop_to"]) == (9, "expanding",
                                                                     sms["shortcode"])  # fmt: skip
    # Three workers at once (two here, the stack's own), in batches of two or three phones.
    await asyncio.gather(tasks.drain(2), tasks.drain(3), tasks.drain(2))
    rows = await settled(offer["id"], {"delivered", "skipped"})
    assert [r["recipient"] for r in rows] == phones  # each once, the foreign number never
    assert {r["idempotency_key"] for r in rows} == {
        f"{tenant.id}:broadcast:{offer['id']}:{p}:sms" for p in phones
    }
    [skipped] = [r for r in rows if r["status"] == "skipped"]
    assert skipped["recipient"] == capped and "daily cap" in skipped["error"]
    for number in phones[1:]:
        [text] = await texts(number)
        assert text.startswith("Usiku: 1 GB for 20 bob\n")
        line = f"Tuma ACHA kwa {sms['shortcode']} kusitisha ofa"
        english = f"STOP to {sms['shortcode']} to stop offers"
        assert text.endswith(line if number == phones[8] else english)
    assert await texts(capped) == ["Your code is 123456"]

    shown = (await client.get(f"{BROADCASTS}/{offer['id']}", headers=headers)).json()
    assert shown["status"] == "done" and shown["finished_at"]
    progress = shown["progress"]
    assert (progress["decided"], progress["delivered"], progress["skipped"]) == (9, 8, 1)
    assert progress["cost"] == "6.4000" and progress["currency"] == "KES"  # 8 x 0.80
    listed = (await client.get(BROADCASTS, headers=headers)).json()
    assert [o["id"] for o in listed] == [offer["id"]]


async def test_a_worker_stopping_midway_loses_nobody_and_repeats_nothing(client, monkeypatch):
    tenant, headers, _ = await offer_isp(client)
    phones = sorted(phone() for _ in range(5))
    await opted_in(tenant.id, *phones)
    real = outbox.decide
    calls = 0

    async def dies_on_the_third(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("the worker stopped")
        return await real(*args, **kwargs)

    sent = await client.post(BROADCASTS, headers=headers,
                             json={"text": "Promo", "channels": ["sms"]})  # fmt: skip
    offer_id = sent.json()["id"]
    monkeypatch.setattr(outbox, "decide", dies_on_the_third)
    with pytest.raises(RuntimeError):
        await tasks.expand_batch(4)  # the first batch: its first two phones decided, then dead
    monkeypatch.setattr(outbox, "decide", real)
    assert calls == 3, "the stack's worker took the offer first"
    [row] = await sql("SELECT cursor, status FROM broadcast WHERE id = :b", b=offer_id)
    assert (row["cursor"], row["status"]) == (None, "expanding")  # nothing of that batch kept
    assert await offer_messages(offer_id) == []

    await tasks.drain(4)  # the restart
    rows = await settled(offer_id, {"delivered"})
    assert [r["recipient"] for r in rows] == phones
    for number in phones:
        assert len(await texts(number)) == 1


async def test_bad_offers_get_clear_4xx_and_change_nothing(client):
    tenant, headers, _ = await offer_isp(client)
    await opted_in(tenant.id, phone())
    cases = [
        ({"text": "   ", "channels": ["sms"]}, "empty"),
        ({"text": "x" * 301, "channels": ["sms"]}, "at most 300 characters"),
        ({"text": "Offer", "channels": []}, "at least one channel"),
        ({"text": "Offer", "channels": ["whatsapp"]}, "WhatsApp is not set up"),
        ({"text": "Offer", "channels": ["fax"]}, None),
        ({"text": "Offer"}, None),
    ]
    for body, words in cases:
        response = await client.post(BROADCASTS, headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
        if words:
            assert words in response.json()["detail"], response.text
    no_shortcode, plain, _ = await offer_isp(client, shortcode=False)
    await opted_in(no_shortcode.id, phone())
    response = await client.post(
        BROADCASTS, headers=plain, json={"text": "Hi", "channels": ["sms"]}
    )
    assert response.status_code == 422 and "shortcode" in response.json()["detail"]
    assert await sql("SELECT id FROM broadcast WHERE tenant_id IN (:a, :b)", a=tenant.id,
                     b=no_shortcode.id) == []  # fmt: skip
    assert await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND action = 'offer.send'",
                     t=tenant.id) == []  # fmt: skip


# ------------------------------------------------------------------ quiet hours


async def test_quiet_hours_hold_offers_and_nothing_urgent_then_release_them(client):
    tenant, headers, sms = await offer_isp(client)
    customer = phone()
    await opted_in(tenant.id, customer)
    quiet_on = await client.patch("/api/v1/settings", headers=headers,
                                  json=_hours_around_now(inside=True))  # fmt: skip
    assert quiet_on.status_code == 200, quiet_on.text
    sent = await client.post(BROADCASTS, headers=headers,
                             json={"text": "Night offer", "channels": ["sms"]})  # fmt: skip
    offer_id = sent.json()["id"]
    await tasks.drain()
    [held] = await settled(offer_id, {"held"})
    assert "quiet hours" in held["error"] and held["next_attempt_at"] > datetime.now(UTC)
    assert held["attempts"] == 0
    # A one-time code (urgent) to the same phone goes out meanwhile; the offer does not.
    async with unit_of_work() as session:
        await send_sms(session, tenant.id, customer, "Your code is 424242", "otp", "otp:quiet")
    assert await texts(customer) == ["Your code is 424242"]
    assert await outbox.send(held["id"]) is False  # not due: nobody sends it early
    progress = (await client.get(f"{BROADCASTS}/{offer_id}", headers=headers)).json()["progress"]
    assert (progress["held"], progress["sent"], progress["delivered"]) == (1, 0, 0)

    # The quiet hours move away from now: the held offer goes out (the stack's sweep sends it).
    quiet_off = await client.patch("/api/v1/settings", headers=headers,
                                   json=_hours_around_now(inside=False))  # fmt: skip
    assert quiet_off.status_code == 200, quiet_off.text
    [delivered] = await settled(offer_id, {"delivered"}, wait=40)
    assert delivered["error"] is None
    offer_text = f"Night offer\nSTOP to {sms['shortcode']} to stop offers"
    assert await texts(customer) == ["Your code is 424242", offer_text]


async def test_a_phone_opted_out_after_the_offer_was_decided_is_skipped_at_send(client):
    tenant, headers, sms = await offer_isp(client)
    leaving, staying = sorted([phone(), phone()])
    await opted_in(tenant.id, leaving, staying)
    await client.patch("/api/v1/settings", headers=headers, json=_hours_around_now(inside=True))
    sent = await client.post(BROADCASTS, headers=headers,
                             json={"text": "Held offer", "channels": ["sms"]})  # fmt: skip
    await tasks.drain()
    await settled(sent.json()["id"], {"held"})
    await texted(sms, leaving, "STOP")  # while its offer waits
    await client.patch("/api/v1/settings", headers=headers, json=_hours_around_now(inside=False))
    rows = await settled(sent.json()["id"], {"delivered", "skipped"}, wait=40)
    assert [(r["recipient"], r["status"]) for r in rows] == [
        (leaving, "skipped"), (staying, "delivered"),
    ]  # fmt: skip
    assert "opted out" in rows[0]["error"]
    assert [t for t in await texts(leaving) if "Held offer" in t] == []


def test_only_offers_are_promotional():
    assert quiet.PROMOTIONAL == {"offer"}
    assert timedelta(hours=24) == timedelta(days=1)  # EAT has no daylight saving to skip
