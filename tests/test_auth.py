"""Staff login, lockout, logout, audit and tenant-by-subdomain."""

from __future__ import annotations

import secrets

import httpx
import pytest
from sqlalchemy import select

from api.config import get_settings
from api.db import unit_of_work
from api.models import AuditEvent
from tests.factories import PASSWORD, login, make_staff, make_tenant

LOGIN = "/api/v1/auth/login"


async def _audit_actions(tenant_id: int) -> list[str]:
    async with unit_of_work() as session:
        stmt = select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id)
        return list(await session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.fixture
async def client(app):
    """This module's requests from an address of its own: its wrong passwords must not spend
    the login budget of 127.0.0.1, which the rest of the suite signs in from."""
    address = f"10.99.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_login_ok_returns_bearer_token(client):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, email="Boss@Example.com")
    response = await client.post(
        LOGIN, json={"email": "boss@example.COM", "password": PASSWORD, "tenant": tenant.slug}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == int(get_settings().session_absolute.total_seconds())
    assert body["stage"] == "full" and body["second_factor"] is None
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    csrf = me.json().pop("csrf_token")
    assert csrf and len(csrf) >= 40
    assert {k: v for k, v in me.json().items() if k != "csrf_token"} == {
        "staff_id": staff.id,
        "tenant_id": tenant.id,
        "email": "boss@example.com",
        "role": "owner",
    }
    assert "auth.login" in await _audit_actions(tenant.id)


async def test_wrong_password_unknown_email_and_unknown_tenant_look_the_same(client):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    attempts = [
        {"email": staff.email, "password": "wrong password!", "tenant": tenant.slug},
        {"email": "nobody@example.com", "password": PASSWORD, "tenant": tenant.slug},
        {"email": staff.email, "password": PASSWORD, "tenant": "no-such-tenant-xyz"},
    ]
    responses = [await client.post(LOGIN, json=body) for body in attempts]
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert len({r.json()["detail"] for r in responses}) == 1
    assert all(r.headers["www-authenticate"] == "Bearer" for r in responses)
    assert (await _audit_actions(tenant.id)).count("auth.login_failed") == 2


async def test_login_without_tenant_is_422(client):
    response = await client.post(LOGIN, json={"email": "a@example.com", "password": "x"})
    assert response.status_code == 422
    assert "ISP" in response.json()["detail"]


async def test_login_with_invalid_body_is_422(client):
    response = await client.post(LOGIN, json={"email": "a@example.com"})
    assert response.status_code == 422


async def test_lockout_after_max_failures_even_with_right_password(client):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    wrong = {"email": staff.email, "password": "not the password", "tenant": tenant.slug}
    for _ in range(get_settings().login_max_failures):
        assert (await client.post(LOGIN, json=wrong)).status_code == 401
    right = wrong | {"password": PASSWORD}
    response = await client.post(LOGIN, json=right)
    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= get_settings().login_lockout.total_seconds()
    # Another user of the same tenant is not locked out.
    other = await make_staff(tenant=tenant)
    await login(client, tenant=tenant, staff=other)


async def test_logout_invalidates_token(client):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant)
    headers = await login(client, tenant=tenant, staff=staff)
    assert (await client.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    assert "auth.logout" in await _audit_actions(tenant.id)


async def test_anonymous_and_garbage_tokens_are_401(client):
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    assert (await client.post("/api/v1/auth/logout")).status_code == 401
    headers = {"Authorization": "Bearer not-a-real-token"}
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401


async def test_subdomain_must_match_token_tenant(client):
    base = get_settings().base_domain
    tenant, other = await make_tenant(), await make_tenant()
    staff = await make_staff(tenant=tenant)
    headers = await login(client, tenant=tenant, staff=staff)
    own = await client.get("/api/v1/auth/me", headers=headers | {"Host": f"{tenant.slug}.{base}"})
    assert own.status_code == 200
    foreign = await client.get(
        "/api/v1/auth/me", headers=headers | {"Host": f"{other.slug}.{base}"}
    )
    assert foreign.status_code == 403


async def test_login_takes_tenant_from_subdomain(client):
    base = get_settings().base_domain
    tenant, other = await make_tenant(), await make_tenant()
    staff = await make_staff(tenant=tenant)
    body = {"email": staff.email, "password": PASSWORD}
    host = {"Host": f"{tenant.slug}.{base}"}
    assert (await client.post(LOGIN, json=body, headers=host)).status_code == 200
    # Staff of one ISP cannot log in on another ISP's subdomain.
    other_host = {"Host": f"{other.slug}.{base}"}
    assert (await client.post(LOGIN, json=body, headers=other_host)).status_code == 401
    mismatch = body | {"tenant": other.slug}
    assert (await client.post(LOGIN, json=mismatch, headers=host)).status_code == 422
