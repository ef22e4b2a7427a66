"""Buying a package by STK push, end to end against the fake Daraja: the push as Daraja wants
it, every scripted outcome, duplicates, late and missing callbacks, debounce, repurchase, and
the live status stream. Callbacks travel fake -> the stack's API process over HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest

from api.payments import verify
from tests.payshop import (
    buy,
    fake,
    make_shop,
    money,
    phone,
    purchase_row,
    wait_callbacks,
    wait_status,
)


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def test_success_grants_one_new_voucher(client):
    shop = await make_shop(price=20)
    msisdn = phone()
    response = await buy(client, shop, "0" + msisdn[3:])
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "pending" and started["amount"] == 20
    paid = await wait_status(client, shop, started["id"], "paid")
    code = paid["voucher"]["code"]
    assert len(code) == 8 and paid["voucher"]["extended"] is False

    ledger = await money(shop.tenant_id)
    assert len(ledger["payments"]) == 1 and len(ledger["grants"]) == 1
    payment = ledger["payments"][0]
    assert payment["status"] == "granted" and payment["amount"] == 20
    assert payment["receipt"] == paid["receipt"] and payment["phone"] == msisdn
    assert ledger["vouchers"][0]["code"] == code and ledger["vouchers"][0]["phone"] == msisdn
