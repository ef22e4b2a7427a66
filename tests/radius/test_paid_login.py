"""A voucher bought by M-Pesa logs in through FreeRADIUS (radclient as the MikroTik router), and
a repurchase shows up in the next login's Session-Timeout."""

from __future__ import annotations

import secrets

import pytest

from tests.payshop import add_router, buy, fake, make_shop, phone, wait_status
from tests.radius.radclient import hotspot_request, send, warm_up


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def test_paid_voucher_logs_in_and_a_repurchase_extends_it(client, new_address):
    shop = await make_shop(price=30, duration_seconds=3600, upload_kbps=1000, download_kbps=5000)
    address, secret = new_address(), secrets.token_urlsafe(18)
    await add_router(shop, address, secret)
    warm_up(address, secret)
    msisdn = phone()

    started = (await buy(client, shop, msisdn)).json()
    code = (await wait_status(client, shop, started["id"], "paid"))["voucher"]["code"]
    first = send("auth", hotspot_request(code), src=address, secret=secret)
    assert first.code == "Access-Accept"
    assert first["Session-Timeout"] == "3600" and first["Mikrotik-Rate-Limit"] == "1M/5M"

    again = (await buy(client, shop, msisdn, voucher_code=code)).json()
    await wait_status(client, shop, again["id"], "paid")
    second = send("auth", hotspot_request(code), src=address, secret=secret)
    assert second.code == "Access-Accept"
    assert 7000 < int(second["Session-Timeout"]) <= 7200  # the clock started at first login
