"""The money invariant (`mnetifi payments check`, GET /api/v1/payments/check): every granted
payment has exactly one grant, every grant its granted payment, every sold voucher its grant,
every paid purchase its payment. Zero on real flows; each kind of break is reported."""

from __future__ import annotations

import asyncio
import os
import subprocess

import pytest

from tests.factories import make_user_headers
from tests.payshop import buy, fake, make_shop, money, phone, shop_tenant, wait_status
from tests.radius.conftest import sql
from tests.radius.test_subscribers import make_subscriber
from tests.test_cli import MNETIFI, create_tenant, run
from tests.test_payment_c2b import c2b_body, confirm


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def _paid_shop(client):
    shop = await make_shop()
    for magic in ("254700000007", phone(), "254700000001"):  # duplicates, plain, cancelled
        started = (await buy(client, shop, magic)).json()
        await wait_status(
            client, shop, started["id"], "failed" if magic == "254700000001" else "paid"
        )
    slug = (await sql("SELECT slug FROM tenant WHERE id = :t", t=shop.tenant_id))[0]["slug"]
    return shop, slug


async def test_zero_on_the_test_data(client):
    await _paid_shop(client)
    result = run("payments", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "violations: 0" in result.stdout
    assert int(result.stdout.split("payments: ")[1].split()[0]) >= 2


@pytest.mark.parametrize(
    ("breakage", "repair", "rule"),
    [
        (
            "DELETE FROM payment_grant WHERE id = :grant",
            "INSERT INTO payment_grant SELECT * FROM broken_grant",
            "granted payment without exactly one grant: 1",
        ),
        (
            "UPDATE payment SET status = 'held' WHERE id = :payment",
            "UPDATE payment SET status = 'granted' WHERE id = :payment",
            "grant whose payment is not granted: 1",
        ),
        (
            "UPDATE payment_grant SET amount = amount + 1 WHERE id = :grant",
            "UPDATE payment_grant SET amount = amount - 1 WHERE id = :grant",
            "grant amount differs from its payment: 1",
        ),
        (
            "UPDATE payment SET stk_request_id = NULL, receipt = 'BROKEN' || id "
            "WHERE id = :payment",
            "UPDATE payment SET stk_request_id = :request, receipt = :receipt WHERE id = :payment",
            "paid purchase without its payment: 1",
        ),
    ],
)
async def test_each_break_is_reported_for_its_isp(client, breakage, repair, rule):
    shop, slug = await _paid_shop(client)
    rows = await money(shop.tenant_id)
    payment, grant = rows["payments"][0], rows["grants"][0]
    keys = {"grant": grant["id"], "payment": payment["id"], "request": payment["stk_request_id"],
            "receipt": payment["receipt"]}  # fmt: skip
    await sql("DROP TABLE IF EXISTS broken_grant")
    await sql("CREATE TABLE broken_grant AS SELECT * FROM payment_grant WHERE id = :grant", **keys)
    await sql(breakage, **{k: v for k, v in keys.items() if f":{k}" in breakage})
    try:
        result = run("payments", "check", "--tenant", slug)
        assert result.returncode == 1, result.stdout
        assert rule in result.stdout and "violations: 0" not in result.stdout
        _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
        report = (await client.get("/api/v1/payments/check", headers=headers)).json()
        assert report["total"] >= 1
    finally:
        await sql(repair, **{k: v for k, v in keys.items() if f":{k}" in repair})
        await sql("DROP TABLE broken_grant")
    result = run("payments", "check", "--tenant", slug)
    assert result.returncode == 0 and "violations: 0" in result.stdout


async def test_cli_sets_an_account_with_secrets_from_the_environment(monkeypatch):
    slug = create_tenant()["slug"]
    monkeypatch.setenv("DARAJA_CONSUMER_KEY", "cli-key-Zx81")
    monkeypatch.setenv("DARAJA_CONSUMER_SECRET", "cli-secret-Yw22")
    monkeypatch.setenv("DARAJA_PASSKEY", "cli-passkey-Vv33")
    env = {
        k: v for k, v in os.environ.items() if k.startswith(("MNETIFI_", "DARAJA_")) or k == "PATH"
    }
    result = await asyncio.to_thread(
        subprocess.run,
        [str(MNETIFI), "payments", "account", "--tenant", slug, "--account-type", "till",
         "--shortcode", "5000001", "--till-number", "6000001"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "till_number: 6000001" in result.stdout and "has_passkey: True" in result.stdout
    assert "cli-secret" not in result.stdout + result.stderr
    [row] = await sql(
        "SELECT s.* FROM payment_settings s JOIN tenant t ON t.id = s.tenant_id WHERE t.slug = :s",
        s=slug,
    )
    assert "cli-passkey" not in str(dict(row)) and row["callback_token_enc"]
    missing = run("payments", "account", "--tenant", slug + "x", "--shortcode", "174379")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


async def test_a_subscribers_credit_is_the_grant_of_their_payment(client):
    """A monthly subscriber's paybill payment is granted by its credit (subscriber_payment), not
    a voucher grant: zero violations; the credit gone or of another amount is reported."""
    shop = await make_shop()
    sub = await make_subscriber({"tenant_id": shop.tenant_id})
    await confirm(client, shop, c2b_body(amount=1500, ref=sub["username"]))
    slug = (await sql("SELECT slug FROM tenant WHERE id = :t", t=shop.tenant_id))[0]["slug"]
    assert "violations: 0" in run("payments", "check", "--tenant", slug).stdout
    [credit] = await sql("SELECT * FROM subscriber_payment WHERE subscriber_id = :s", s=sub["id"])
    await sql("DROP TABLE IF EXISTS broken_credit")
    await sql("CREATE TABLE broken_credit AS SELECT * FROM subscriber_payment WHERE id = :c",
              c=credit["id"])  # fmt: skip
    try:
        await sql("UPDATE subscriber_payment SET amount = amount + 1 WHERE id = :c", c=credit["id"])
        differs = run("payments", "check", "--tenant", slug)
        assert "subscriber credit differs from its payment: 1" in differs.stdout
        await sql("DELETE FROM subscriber_payment WHERE id = :c", c=credit["id"])
        gone = run("payments", "check", "--tenant", slug)
        assert gone.returncode == 1
        assert "granted payment without exactly one grant: 1" in gone.stdout
    finally:  # the whole database's check (test_zero_on_the_test_data) stays at zero
        await sql("DELETE FROM subscriber_payment WHERE id = :c", c=credit["id"])
        await sql("INSERT INTO subscriber_payment SELECT * FROM broken_credit")
        await sql("DROP TABLE broken_credit")
    assert "violations: 0" in run("payments", "check", "--tenant", slug).stdout
