"""Signing in as staff through the API: the session cookie and its CSRF token, the second factor
at login (TOTP, SMS through the fake Africa's Talking, recovery codes), an ISP that requires one,
sessions ended when a person is deactivated, and API tokens."""

from __future__ import annotations

import secrets
import time

import httpx
import pyotp
import pytest
from sqlalchemy import text, update

from api import staff_sessions
from api.auth import second_factor, tokens
from api.config import get_settings
from api.db import unit_of_work
from api.models import Tenant
from api.tenancy import SESSION_COOKIE, Principal
from tests.factories import PASSWORD, make_staff, make_tenant

LOGIN = "/api/v1/auth/login"
PROVE = "/api/v1/auth/second-factor"


def _from(app, address: str | None = None) -> httpx.AsyncClient:
    """A client of its own address: each test's failed codes use their own login budgets."""
    address = address or f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _person(role: str = "owner"):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, role=role)
    return tenant, staff


def _login_body(tenant, staff) -> dict[str, str]:
    return {"email": staff.email, "password": PASSWORD, "tenant": tenant.slug}


async def _enrol_totp(tenant_id: int, staff_id: int) -> tuple[str, list[str]]:
    async with unit_of_work() as s:
        enrolment = await second_factor.start_totp(s, tenant_id, staff_id, account="a", issuer="b")
    async with unit_of_work() as s:
        codes = await second_factor.confirm(
            s, tenant_id, staff_id, pyotp.TOTP(enrolment.secret).now()
        )
    return enrolment.secret, codes


async def test_the_cookie_is_httponly_lax_host_only_and_needs_the_csrf_token(app) -> None:
    tenant, staff = await _person()
    async with _from(app) as client:
        answer = await client.post(LOGIN, json=_login_body(tenant, staff))
        assert answer.status_code == 200 and answer.json()["stage"] == "full"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Domain=" not in cookie  # host-only: the ISP's own subdomain
        assert "Secure" not in cookie  # only in production (the test stack is plain HTTP)
        # The browser sends the cookie; reading needs nothing more.
        me = await client.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["email"] == staff.email
        csrf = me.json()["csrf_token"]
        # A change with the cookie but no CSRF token, a forged one, or from another site: 403.
        assert (
            await client.patch("/api/v1/settings", json={"unused_voucher_days": 9})
        ).status_code == 403
        forged = {"X-CSRF-Token": "forged"}
        assert (await client.post("/api/v1/auth/logout", headers=forged)).status_code == 403
        other = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        assert (await client.post("/api/v1/auth/logout", headers=other)).status_code == 403
        ok = await client.patch(
            "/api/v1/settings", json={"unused_voucher_days": 9}, headers={"X-CSRF-Token": csrf}
        )
        assert ok.status_code == 200
        out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204 and "Max-Age=0" in out.headers["set-cookie"]
        client.cookies.set(SESSION_COOKIE, answer.json()["access_token"])
        assert (await client.get("/api/v1/auth/me")).status_code == 401


async def test_a_totp_login_owes_its_code_and_continues_on_a_new_id(app) -> None:
    tenant, staff = await _person()
    secret, _ = await _enrol_totp(tenant.id, staff.id)
    async with _from(app) as client:
        first = await client.post(LOGIN, json=_login_body(tenant, staff))
        body = first.json()
        assert body["stage"] == "second_factor" and body["second_factor"] == "totp"
        half = {"Authorization": f"Bearer {body['access_token']}"}
        refused = await client.get("/api/v1/routers", headers=half)
        assert refused.status_code == 401 and "code" in refused.json()["detail"]
        wrong = await client.post(PROVE, json={"code": "000000"}, headers=half)
        assert wrong.status_code == 401
        code = pyotp.TOTP(secret).at(time.time() + 30)  # later than the enrolment's step
        done = await client.post(PROVE, json={"code": code}, headers=half)
        assert done.status_code == 200, done.text
        assert (
            done.json()["stage"] == "full" and done.json()["access_token"] != body["access_token"]
        )
        full = {"Authorization": f"Bearer {done.json()['access_token']}"}
        assert (await client.get("/api/v1/routers", headers=full)).status_code == 200
        assert (await client.get("/api/v1/routers", headers=half)).status_code == 401  # rotated
        # The same code on another login: a replay.
        async with unit_of_work() as s:
            logged = await s.execute(
                text("SELECT action, details FROM audit_event WHERE tenant_id = :t ORDER BY id"),
                {"t": tenant.id},
            )
            rows = [(a, d) for a, d in logged.all() if a.startswith("auth.second_factor")]
        assert rows == [
            ("auth.second_factor_failed", {"method": None}),
            ("auth.second_factor", {"method": "totp"}),
        ]
        again = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
        other = {"Authorization": f"Bearer {again['access_token']}"}
        assert (await client.post(PROVE, json={"code": code}, headers=other)).status_code == 401


async def test_a_recovery_code_signs_in_once(app) -> None:
    tenant, staff = await _person()
    _, codes = await _enrol_totp(tenant.id, staff.id)
    async with _from(app) as client:
        for expected in (200, 401):
            pending = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
            headers = {"Authorization": f"Bearer {pending['access_token']}"}
            proved = await client.post(PROVE, json={"code": codes[3]}, headers=headers)
            assert proved.status_code == expected


async def test_an_sms_login_sends_the_code_through_africas_talking(app) -> None:
    tenant, staff = await _person()
    phone = f"+2547{secrets.randbelow(10**8):08d}"
    async with unit_of_work() as s:
        code = await second_factor.start_sms(s, tenant.id, staff.id, phone=phone)
    async with unit_of_work() as s:
        await second_factor.confirm(s, tenant.id, staff.id, code)
    async with _from(app) as client:
        pending = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
        assert pending["second_factor"] == "sms"
        async with httpx.AsyncClient(timeout=10) as http:
            url = get_settings().at_url.rstrip("/") + "/__fake__/messages"
            sent = (await http.get(url, params={"to": phone})).json()
        text = sent[-1]["message"]
        sms_code = next(w for w in text.replace(".", " ").split() if w.isdigit() and len(w) == 6)
        headers = {"Authorization": f"Bearer {pending['access_token']}"}
        assert (
            await client.post(PROVE, json={"code": sms_code}, headers=headers)
        ).status_code == 200
        # Used: the next login needs a new code.
        again = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
        headers = {"Authorization": f"Bearer {again['access_token']}"}
        assert (
            await client.post(PROVE, json={"code": sms_code}, headers=headers)
        ).status_code == 401


async def test_wrong_codes_count_towards_the_login_lockout(app, monkeypatch) -> None:
    monkeypatch.setattr(get_settings(), "login_max_failures", 3)
    tenant, staff = await _person()
    await _enrol_totp(tenant.id, staff.id)
    host = {"Host": f"{tenant.slug}.{get_settings().base_domain}"}
    async with _from(app) as client:
        pending = (await client.post(LOGIN, json=_login_body(tenant, staff), headers=host)).json()
        headers = host | {"Authorization": f"Bearer {pending['access_token']}"}
        answers = [
            (await client.post(PROVE, json={"code": f"{n:06d}"}, headers=headers)).status_code
            for n in range(5)
        ]
    assert answers[:2] == [401, 401] and 429 in answers, answers


async def test_an_isp_that_requires_a_second_factor_lets_the_unenrolled_only_enrol(app) -> None:
    tenant, staff = await _person()
    async with unit_of_work() as s:
        await s.execute(
            update(Tenant).where(Tenant.id == tenant.id).values(require_second_factor=True)
        )
    async with _from(app) as client:
        body = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
        assert body["stage"] == "enrol"
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        refused = await client.get("/api/v1/vouchers", headers=headers)
        assert refused.status_code == 403 and "second factor" in refused.json()["detail"]


async def test_deactivating_a_person_ends_their_sessions_at_once(app) -> None:
    tenant, owner = await _person()
    tech = await make_staff(tenant=tenant, role="tech")
    async with _from(app) as client:
        own = (await client.post(LOGIN, json=_login_body(tenant, owner))).json()["access_token"]
        theirs = (await client.post(LOGIN, json=_login_body(tenant, tech))).json()["access_token"]
        assert len(await staff_sessions.list_for(tech.id)) == 1
        gone = await client.post(
            f"/api/v1/staff/{tech.id}/deactivate", headers={"Authorization": f"Bearer {own}"}
        )
        assert gone.status_code == 200, gone.text
        assert await staff_sessions.list_for(tech.id) == []
        assert await staff_sessions.load(theirs) is None
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {theirs}"})
        assert me.status_code == 401


async def test_an_api_token_acts_within_its_permissions_until_revoked(app) -> None:
    tenant, owner = await _person()
    principal = Principal(staff_id=owner.id, tenant_id=tenant.id, email=owner.email, role="owner")
    async with unit_of_work() as s:
        secret, token = await tokens.create(s, principal, "monitoring", ["routers:read"])
    headers = {"Authorization": f"Bearer {secret}"}
    async with _from(app) as client:
        assert (await client.get("/api/v1/routers", headers=headers)).status_code == 200
        assert (await client.get("/api/v1/vouchers", headers=headers)).status_code == 403
        other = await make_tenant()
        elsewhere = headers | {"Host": f"{other.slug}.{get_settings().base_domain}"}
        assert (await client.get("/api/v1/routers", headers=elsewhere)).status_code == 403
        async with unit_of_work() as s:
            await tokens.revoke(s, principal, token.id)
        assert (await client.get("/api/v1/routers", headers=headers)).status_code == 401


@pytest.mark.parametrize("code", ["", "x" * 40, "12345\x00", None, 123456])
async def test_malformed_codes_are_a_422(app, code) -> None:
    tenant, staff = await _person()
    async with _from(app) as client:
        pending = (await client.post(LOGIN, json=_login_body(tenant, staff))).json()
        headers = {"Authorization": f"Bearer {pending['access_token']}"}
        answer = await client.post(PROVE, json={"code": code}, headers=headers)
        assert answer.status_code == 422 and answer.json()["detail"]


async def test_signing_in_again_between_wrong_codes_does_not_reset_their_count(app, monkeypatch):
    """Knowing the password must not buy fresh guesses at the code: each new login returns only
    its own attempt, never the wrong codes before it."""
    monkeypatch.setattr(get_settings(), "login_max_failures", 3)
    tenant, staff = await _person()
    await _enrol_totp(tenant.id, staff.id)
    statuses = []
    async with _from(app) as client:
        for _ in range(4):
            pending = await client.post(LOGIN, json=_login_body(tenant, staff))
            if pending.status_code != 200:
                statuses.append(pending.status_code)
                continue
            headers = {"Authorization": f"Bearer {pending.json()['access_token']}"}
            statuses.append(
                (await client.post(PROVE, json={"code": "000000"}, headers=headers)).status_code
            )
    assert statuses[:3] == [401, 401, 401] and statuses[3] == 429, statuses
