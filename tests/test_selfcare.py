"""The subscriber's self-care page (/account on the ISP's address): sign-in limited and refused
across ISPs, CSRF on every form, its cookie worthless on /admin and the API, paying by an STK
push through the fake Daraja renews, changing the password (the old one stops working), and bad
inputs answered with a form that says what to fix."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from tests.payshop import fake, make_shop, new_receipt, stk_body
from tests.radius.conftest import sql
from tests.radius.test_subscribers import PASSWORD, make_subscriber


@pytest.fixture(autouse=True)
async def _fresh_fake():
    await fake("POST", "reset")


async def _isp():
    shop = await make_shop()
    host = shop.host["host"]
    return shop, {"host": host, "origin": f"http://{host}"}


async def _sign_in(client: httpx.AsyncClient, headers: dict, username: str,
                   password: str = PASSWORD) -> httpx.Response:  # fmt: skip
    return await client.post("/account/login", data={"username": username, "password": password},
                             headers=headers)  # fmt: skip


def _with_cookie(headers: dict, response: httpx.Response) -> dict:
    """The headers with the session cookie the response set (the test client keeps none)."""
    assert response.status_code in (200, 303), response.text
    value = response.cookies["mnetifi_account"]
    return headers | {"cookie": f"mnetifi_account={value}"}


def _csrf(page: httpx.Response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


async def test_sign_in_shows_the_due_date_and_is_limited(client):
    shop, headers = await _isp()
    sub = await make_subscriber({"tenant_id": shop.tenant_id}, username="Otieno.J")
    wrong = await _sign_in(client, headers, "otieno.j", "nope-nope")
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.text
    signed = await _sign_in(client, headers, "OTIENO.J")  # any case
    assert signed.status_code == 303, signed.text
    page = await client.get("/account", headers=_with_cookie(headers, signed))
    assert 'id="due" data-state="paid"' in page.text and sub["username"] in page.text
    for _ in range(4):  # five wrong passwords in all
        assert (await _sign_in(client, headers, "otieno.j", "wrong-one")).status_code == 401
    limited = await _sign_in(client, headers, "otieno.j")  # even the right password now
    assert limited.status_code == 429 and "Too many wrong passwords" in limited.text


async def test_another_isps_subscriber_cannot_sign_in_here(client):
    shop, headers = await _isp()
    other, _ = await _isp()
    await make_subscriber({"tenant_id": other.tenant_id}, username="same-name")
    refused = await _sign_in(client, headers, "same-name")
    assert refused.status_code == 401


async def test_forms_need_the_csrf_token_and_the_cookie_is_no_staff_session(client):
    shop, headers = await _isp()
    sub = await make_subscriber({"tenant_id": shop.tenant_id})
    headers = _with_cookie(headers, await _sign_in(client, headers, sub["username"]))
    forged = await client.post(
        "/account/password",
        headers=headers,
        data={"current": PASSWORD, "new": "Newpass-1", "again": "Newpass-1"},
    )
    assert forged.status_code == 403
    for path in ("/api/v1/settings", "/api/v1/subscribers", "/admin/"):
        answer = await client.get(path, headers=headers, follow_redirects=False)
        assert answer.status_code in (302, 303, 401), (path, answer.status_code)


async def test_password_change_works_and_the_old_one_stops(client):
    """...and a block for wrong PPPoE passwords (someone guessing the old one) ends with it."""
    shop, headers = await _isp()
    sub = await make_subscriber({"tenant_id": shop.tenant_id})
    for _ in range(5):  # the ISP's default limit, counted as FreeRADIUS counts a wrong password
        await sql("SELECT radius_password_failure(:t, :u, '02:66:00:00:00:01')",
                  t=str(shop.tenant_id), u=sub["username"])  # fmt: skip
    [blocked] = await sql("SELECT login_blocked_until FROM subscriber WHERE id = :s", s=sub["id"])
    assert blocked["login_blocked_until"] is not None
    headers = _with_cookie(headers, await _sign_in(client, headers, sub["username"]))
    page = await client.get("/account", headers=headers)
    token = _csrf(page)
    bad = await client.post("/account/password", headers=headers, data={
        "csrf_token": token, "current": PASSWORD, "new": "short", "again": "short"})  # fmt: skip
    assert bad.status_code == 422 and 'id="error-new"' in bad.text
    differ = await client.post(
        "/account/password",
        headers=headers,
        data={"csrf_token": token, "current": PASSWORD, "new": "Newpass-1", "again": "Newpass-2"},
    )
    assert differ.status_code == 422 and 'id="error-again"' in differ.text
    done = await client.post(
        "/account/password",
        headers=headers,
        data={"csrf_token": token, "current": PASSWORD, "new": "Newpass-1", "again": "Newpass-1"},
    )
    assert done.status_code == 200 and 'id="password-changed"' in done.text
    old_cookie = await client.get("/account", headers=headers)  # rotated: the old id is dead
    assert 'id="login"' in old_cookie.text
    [entry] = await sql("SELECT * FROM audit_event WHERE tenant_id = :t AND action = "
                        "'subscriber.password'", t=shop.tenant_id)  # fmt: skip
    assert entry["actor"].startswith("subscriber:")
    assert (await _sign_in(client, headers, sub["username"])).status_code == 401
    assert (await _sign_in(client, headers, sub["username"], "Newpass-1")).status_code == 303
    [row] = await sql("SELECT login_blocked_until FROM subscriber WHERE id = :s", s=sub["id"])
    assert row["login_blocked_until"] is None
    assert await sql("SELECT 1 FROM subscriber_auth_failure WHERE subscriber_id = :s",
                     s=sub["id"]) == []  # fmt: skip


async def test_paying_by_stk_renews_and_a_bad_phone_is_explained(client):
    shop, headers = await _isp()
    sub = await make_subscriber({"tenant_id": shop.tenant_id}, due_in=-timedelta(days=2))
    headers = _with_cookie(headers, await _sign_in(client, headers, sub["username"]))
    page = await client.get("/account", headers=headers)
    assert 'data-state="grace"' in page.text or 'data-state="expired"' in page.text
    token = _csrf(page)
    bad = await client.post("/account/pay", headers=headers, data={"csrf_token": token,
                                                                   "phone": "12345"})  # fmt: skip
    assert bad.status_code == 422 and 'id="error-phone"' in bad.text
    assert await sql("SELECT id FROM stk_request WHERE subscriber_id = :s", s=sub["id"]) == []
    sent = await client.post(
        "/account/pay", headers=headers, data={"csrf_token": token, "phone": "0712000333"}
    )
    assert sent.status_code == 202, sent.text
    [push] = await sql("SELECT * FROM stk_request WHERE subscriber_id = :s", s=sub["id"])
    assert (push["amount"], push["phone"]) == (1500, "254712000333")
    body = stk_body(push["checkout_request_id"], amount=1500, receipt=new_receipt(),
                    phone="254712000333")  # fmt: skip
    assert (await client.post(shop.hook("stk"), json=body)).status_code == 200
    after = await client.get("/account", headers=headers)
    assert 'data-state="paid"' in after.text and "KES 1500" in after.text


async def test_a_form_posted_after_the_session_ended_gets_the_sign_in_page(client):
    """Signed out elsewhere, or the session timed out: the subscriber's form post is answered
    with the sign-in page saying so (401, in the page's language), not a JSON error."""
    shop, headers = await _isp()
    sub = await make_subscriber({"tenant_id": shop.tenant_id})
    signed_in = _with_cookie(headers, await _sign_in(client, headers, sub["username"]))
    token = _csrf(await client.get("/account", headers=signed_in))
    out = await client.post("/account/logout", headers=signed_in, data={"csrf_token": token},
                            follow_redirects=False)  # fmt: skip
    assert out.status_code == 303
    forms = {
        "/account/pay": {"phone": "0712345678"},
        "/account/password": {"current": PASSWORD, "new": "Newpass-1", "again": "Newpass-1"},
        "/account/logout": {},
    }
    for path, data in forms.items():
        ended = await client.post(path, headers=signed_in, data={"csrf_token": token, **data})
        assert ended.status_code == 401, (path, ended.text[:200])
        assert ended.headers["content-type"].startswith("text/html")
        assert "Your session has ended: sign in again" in ended.text
        assert 'name="password"' in ended.text  # the sign-in form
    swahili = signed_in | {"cookie": signed_in["cookie"] + "; lang=sw"}
    ended = await client.post("/account/pay", headers=swahili, data={"phone": "0712345678"})
    assert ended.status_code == 401 and "ingia tena" in ended.text
    # Nothing was done: no M-Pesa prompt for this subscriber's bill.
    assert await sql("SELECT 1 FROM stk_request WHERE subscriber_id = :s",
                     s=sub["id"]) == []  # fmt: skip
