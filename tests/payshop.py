"""An ISP that sells through M-Pesa, for the payment tests: tenant, plan, router, and an M-Pesa
account on the fake Daraja (its seeded demo app), plus helpers to buy, wait and post callbacks.

Pushes go from the in-process app to the fake; the fake posts its callbacks to the stack's API
process (MNETIFI_PUBLIC_URL). Both share the test database and Redis."""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx

from api import crypto
from api.config import get_settings
from api.db import unit_of_work
from api.payments import repository as payments_repository
from api.payments import service as payments_service
from api.payments.schemas import PaymentSettingsIn
from api.tenancy import Principal
from deploy.fakes.daraja_state import (
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_STORE,
    DEMO_STORE_PASSKEY,
    DEMO_TILL,
    SANDBOX_PASSKEY,
    SANDBOX_SHORTCODE,
)
from tests.factories import make_plan, make_router, make_tenant
from tests.radius.conftest import sql

FAKE = os.environ.get("MNETIFI_DARAJA_URL", "")
API = os.environ.get("MNETIFI_PUBLIC_URL", "")


@dataclass
class Shop:
    tenant_id: int
    slug: str
    plan_id: int
    price: int
    token: str  # the callback URL secret

    @property
    def host(self) -> dict[str, str]:
        return {"host": f"{self.slug}.{get_settings().base_domain}"}

    def hook(self, kind: str = "stk", token: str | None = None) -> str:
        return f"/hooks/{self.tenant_id}/{token or self.token}/{kind}"


async def make_shop(
    *, account_type: str = "paybill", price: int = 20, c2b_shortcode: str | None = None,
    **plan_terms: Any,
) -> Shop:  # fmt: skip
    tenant = await make_tenant()
    plan = await make_plan(tenant=tenant, price=price, **plan_terms)
    till = account_type == "till"
    data = PaymentSettingsIn(
        environment="sandbox",
        account_type=account_type,
        shortcode=DEMO_STORE if till else SANDBOX_SHORTCODE,
        till_number=DEMO_TILL if till else None,
        c2b_shortcode=c2b_shortcode,
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret=DEMO_CONSUMER_SECRET,
        passkey=DEMO_STORE_PASSKEY if till else SANDBOX_PASSKEY,
    )
    async with unit_of_work() as session:
        await payments_service.save_settings(session, Principal.cli(tenant.id), data)
        row = await payments_repository.settings_row(session, tenant.id)
        assert row is not None and row.callback_token_enc is not None
        token = crypto.decrypt(row.callback_token_enc)
    return Shop(tenant.id, tenant.slug, plan.id, price, token)


async def shop_tenant(shop: Shop) -> SimpleNamespace:
    """The shop's tenant row, shaped like the model the factories take."""
    return SimpleNamespace(**(await sql("SELECT * FROM tenant WHERE id = :t", t=shop.tenant_id))[0])


async def shop_plan(shop: Shop, plan_id: int | None = None) -> SimpleNamespace:
    """One of the shop's plans (its first by default), shaped like the model."""
    row = await sql("SELECT * FROM plan WHERE id = :p", p=plan_id or shop.plan_id)
    return SimpleNamespace(**row[0])


async def add_plan(shop: Shop, **terms: Any) -> int:
    plan = await make_plan(tenant=await shop_tenant(shop), **terms)
    return plan.id


async def add_router(shop: Shop, address: str, secret: str) -> None:
    await make_router(tenant=await shop_tenant(shop), ip_address=address, secret=secret)


def phone() -> str:
    """A phone the fake treats as a plain success (not one of its magic numbers)."""
    return "2547" + str(secrets.randbelow(90_000_000) + 10_000_000)


async def buy(client: httpx.AsyncClient, shop: Shop, msisdn: str, **extra: Any) -> httpx.Response:
    body = {"plan_id": shop.plan_id, "phone": msisdn} | extra
    return await client.post("/api/v1/portal/purchases", json=body, headers=shop.host)


async def wait_status(
    client: httpx.AsyncClient, shop: Shop, purchase_id: str, want: str, wait: float = 10
) -> dict[str, Any]:
    """Polls the purchase until it reaches `want` (fails with the last status otherwise)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        response = await client.get(f"/api/v1/portal/purchases/{purchase_id}", headers=shop.host)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["status"] == want:
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.05)


async def fake(method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=FAKE, timeout=10) as http:
        response = await http.request(method, f"/__fake__/{path}", **kwargs)
        assert response.status_code == 200, response.text
        return response.json()


async def fake_callbacks(ref: str) -> list[dict[str, Any]]:
    """The callbacks the fake delivered for a CheckoutRequestID, with our API's answers."""
    return [c for c in await fake("GET", "callbacks") if c["ref"] == ref]


async def wait_callbacks(ref: str, count: int, wait: float = 10) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        done = [c for c in await fake_callbacks(ref) if c.get("finished_at")]
        if len(done) >= count:
            return done
        assert asyncio.get_running_loop().time() < deadline, done
        await asyncio.sleep(0.05)


async def purchase_row(public_id: str) -> dict[str, Any]:
    rows = await sql("SELECT * FROM stk_request WHERE public_id = CAST(:p AS uuid)", p=public_id)
    return dict(rows[0])


async def money(tenant_id: int) -> dict[str, Any]:
    """Payments, grants and sold vouchers of one ISP."""
    payments = await sql("SELECT * FROM payment WHERE tenant_id = :t ORDER BY id", t=tenant_id)
    grants = await sql("SELECT * FROM payment_grant WHERE tenant_id = :t ORDER BY id", t=tenant_id)
    vouchers = await sql(
        "SELECT * FROM voucher WHERE tenant_id = :t AND source = 'payment'", t=tenant_id
    )
    return {"payments": payments, "grants": grants, "vouchers": vouchers}


async def events(tenant_id: int | None = None, **where: Any) -> list[dict[str, Any]]:
    clause = "tenant_id = :t" if tenant_id is not None else "tenant_id IS NULL"
    for key in where:
        clause += f" AND {key} = :{key}"
    rows = await sql(
        f"SELECT * FROM payment_event WHERE {clause} ORDER BY id",  # noqa: S608 (test keys)
        t=tenant_id,
        **where,
    )
    return [dict(r) for r in rows]


def stk_body(
    checkout_id: str, *, amount: float = 20.0, receipt: str | None = None, phone: str = "",
    code: int | str = 0, merchant_id: str = "29115-34620561-1",
) -> dict[str, Any]:  # fmt: skip
    """An STK callback exactly as Daraja sends it (reference section 3.1)."""
    callback: dict[str, Any] = {
        "MerchantRequestID": merchant_id,
        "CheckoutRequestID": checkout_id,
        "ResultCode": code,
        "ResultDesc": "The service request is processed successfully."
        if code == 0
        else "Request cancelled by user",
    }
    if code == 0:
        callback["CallbackMetadata"] = {
            "Item": [
                {"Name": "Amount", "Value": amount},
                {"Name": "MpesaReceiptNumber", "Value": receipt or new_receipt()},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20261123102115},
                {"Name": "PhoneNumber", "Value": int(phone) if phone else 254708374149},
            ]
        }
    return {"Body": {"stkCallback": callback}}


def new_receipt() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return "T" + "".join(secrets.choice(alphabet) for _ in range(9))
