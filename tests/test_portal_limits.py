"""Portal guessing limits count per phone, not per hotspot: every phone behind a hotspot's NAT
shares one address, so one customer's typos (or one guesser) must not lock out the others.
The phone is its MAC as the router's redirect gave it (X-Client-MAC from the portal's script,
a hidden field in the no-JS form); the address keeps a ceiling against MAC rotation, and the
count is atomic under parallel requests."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import pytest
from fastapi import FastAPI

from api.config import get_settings
from tests.factories import make_voucher, random_ip
from tests.payshop import make_shop, new_receipt, shop_plan
from tests.test_payment_c2b import c2b_shop, claim, till_payment

STATUS = "/api/v1/portal/vouchers/"


def _mac() -> str:
    return ":".join(f"{b:02X}" for b in secrets.token_bytes(6))


@pytest.fixture
async def hotspot(app: FastAPI):
    """One NAT address that many phones share."""
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def phone_headers(shop, mac: str | None) -> dict[str, str]:
    return shop.host | ({"x-client-mac": mac} if mac else {})


async def test_one_phones_wrong_voucher_codes_do_not_lock_out_its_neighbours(hotspot):
    shop = await make_shop(duration_seconds=3600)
    voucher = await make_voucher(plan=await shop_plan(shop))
    guesser, neighbour = _mac(), _mac()
    limit = get_settings().claim_max_failures * 2
    for _ in range(limit):
        wrong = await hotspot.get(STATUS + "ZZZZZZZZ", headers=phone_headers(shop, guesser))
        assert wrong.status_code == 404
    locked = await hotspot.get(STATUS + voucher.code, headers=phone_headers(shop, guesser))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # Hammering a spent budget takes nothing more from the address's.
    for _ in range(3 * limit):
        await hotspot.get(STATUS + "ZZZZZZZZ", headers=phone_headers(shop, guesser))

    mine = await hotspot.get(STATUS + voucher.code, headers=phone_headers(shop, neighbour))
    assert mine.status_code == 200, mine.text
    assert mine.json()["state"] == "unused"


async def test_rotating_macs_runs_into_the_address_ceiling(hotspot):
    shop = await make_shop()
    settings = get_settings()
    limit = settings.claim_max_failures * 2
    for _ in range(settings.portal_address_ceiling):
        mac = _mac()
        for _ in range(limit):
            wrong = await hotspot.get(STATUS + "ZZZZZZZZ", headers=phone_headers(shop, mac))
            assert wrong.status_code == 404
    fresh = await hotspot.get(STATUS + "ZZZZZZZZ", headers=phone_headers(shop, _mac()))
    assert fresh.status_code == 429


async def test_parallel_guesses_from_one_phone_are_counted_atomically(hotspot):
    shop = await make_shop()
    mac = _mac()
    limit = get_settings().claim_max_failures * 2
    answers = await asyncio.gather(
        *(hotspot.get(STATUS + "ZZZZZZZZ", headers=phone_headers(shop, mac)) for _ in range(40))
    )
    codes = [a.status_code for a in answers]
    assert codes.count(404) == limit and codes.count(429) == 40 - limit, codes


async def test_m_pesa_code_claims_count_per_phone(hotspot):
    shop = await c2b_shop(account_type="till", price=15)
    receipt = (await till_payment(shop, 15))["TransID"]
    guesser, payer = _mac(), _mac()
    hotspot.headers["x-client-mac"] = guesser
    for _ in range(get_settings().claim_max_failures):
        assert (await claim(hotspot, shop, new_receipt())).status_code == 404
    assert (await claim(hotspot, shop, receipt)).status_code == 429

    hotspot.headers["x-client-mac"] = payer  # the phone that paid, behind the same address
    granted = await claim(hotspot, shop, receipt)
    assert granted.status_code == 200, granted.text
    assert granted.json()["voucher"]["code"]


async def test_the_no_javascript_form_counts_per_phone_too(hotspot):
    shop = await make_shop(duration_seconds=3600)
    voucher = await make_voucher(plan=await shop_plan(shop))
    guesser, neighbour = _mac(), _mac()
    form = {"link-login-only": "http://10.5.50.1/login", "dst": ""}
    for _ in range(get_settings().claim_max_failures * 2):
        page = await hotspot.post(
            "/hotspotportal/login", data=form | {"code": "ZZZZZZZZ", "mac": guesser},
            headers=shop.host,
        )  # fmt: skip
        assert page.status_code == 200 and "No such voucher" in page.text
    locked = await hotspot.post(
        "/hotspotportal/login", data=form | {"code": voucher.code, "mac": guesser},
        headers=shop.host,
    )  # fmt: skip
    assert "Too many wrong voucher codes" in locked.text

    ok = await hotspot.post(
        "/hotspotportal/login", data=form | {"code": voucher.code, "mac": neighbour},
        headers=shop.host,
    )  # fmt: skip
    assert ok.status_code == 303 and voucher.code in ok.headers["location"]


async def test_the_portal_page_hands_the_routers_mac_to_its_forms(hotspot):
    shop = await make_shop()
    mac = _mac()
    page = await hotspot.get(f"/hotspotportal?mac={mac}", headers=shop.host)
    assert page.status_code == 200
    assert f'name="mac" value="{mac}"' in page.text
    assert f'data-mac="{mac}"' in page.text
