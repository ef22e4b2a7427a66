"""/api/v1/routers: anonymous, forbidden, invalid input, conflicts and the happy paths."""

from __future__ import annotations

import pytest

from api.models import AuditEvent, Router
from tests.factories import count, make_router, make_user_headers, random_ip

URL = "/api/v1/routers"


async def test_anonymous_is_401(client):
    tenant, _ = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    for method, url in [
        ("GET", URL),
        ("POST", URL),
        ("GET", f"{URL}/{router.id}"),
        ("PATCH", f"{URL}/{router.id}"),
        ("DELETE", f"{URL}/{router.id}"),
    ]:
        response = await client.request(method, url, json={})
        assert response.status_code == 401, (method, url)
    assert await count(Router, tenant_id=tenant.id) == 1


async def test_create_generates_secret_shown_only_once(client):
    tenant, headers = await make_user_headers(client)
    ip = random_ip(v6=True)
    response = await client.post(URL, headers=headers, json={"name": "core", "ip_address": ip})
    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created["secret"]) == 24 and created["secret"].isalnum()
    assert created["coa_port"] == 3799 and created["enabled"] is True
    assert created["ip_address"] == ip
    listed = (await client.get(URL, headers=headers)).json()
    assert [r["id"] for r in listed] == [created["id"]]
    assert "secret" not in listed[0]
    one = (await client.get(f"{URL}/{created['id']}", headers=headers)).json()
    assert "secret" not in one
    assert await count(AuditEvent, tenant_id=tenant.id, action="router.create") == 1


async def test_create_with_own_secret(client):
    _, headers = await make_user_headers(client)
    secret = "Abc!def#ghi^jkl*mno"
    body = {"name": "edge", "ip_address": random_ip(), "secret": secret, "coa_port": 1700}
    response = await client.post(URL, headers=headers, json=body)
    assert response.status_code == 201
    assert response.json()["secret"] == secret and response.json()["coa_port"] == 1700


@pytest.mark.parametrize(
    "field,value",
    [
        ("ip_address", "10.0.0.0/8"),
        ("ip_address", "0.0.0.0"),
        ("ip_address", "::"),
        ("ip_address", "224.0.0.1"),
        ("ip_address", "ff02::1"),
        ("ip_address", "router.example.com"),
        ("secret", "short"),
        ("secret", "x" * 129),
        ("secret", "has a space in it!!"),
        ("secret", 'has"quote"in-it-xx'),
        ("secret", "back\\slash-in-it-xx"),
        ("secret", "dollar-$(reboot)-xx"),
        ("secret", "percent-%{User-Name}"),
        ("secret", "unicode-é-secret-xx"),
        ("coa_port", 0),
        ("coa_port", 65536),
        ("name", ""),
        ("unknown_field", 1),
    ],
)
async def test_invalid_input_is_422_and_nothing_created(client, field, value):
    tenant, headers = await make_user_headers(client)
    body = {"name": "r1", "ip_address": random_ip()} | {field: value}
    response = await client.post(URL, headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert await count(Router, tenant_id=tenant.id) == 0


async def test_duplicate_name_and_ip_are_409(client):
    tenant, headers = await make_user_headers(client)
    existing = await make_router(tenant=tenant)
    same_name = {"name": existing.name, "ip_address": random_ip()}
    response = await client.post(URL, headers=headers, json=same_name)
    assert response.status_code == 409
    assert "name" in response.json()["detail"]
    other_tenant, other_headers = await make_user_headers(client)
    same_ip = {"name": "other", "ip_address": str(existing.ip_address)}
    response = await client.post(URL, headers=other_headers, json=same_ip)
    assert response.status_code == 409
    assert "IP address" in response.json()["detail"]
    assert await count(Router, tenant_id=tenant.id) == 1
    assert await count(Router, tenant_id=other_tenant.id) == 0


async def test_patch_shows_secret_only_when_changed(client):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    response = await client.patch(f"{URL}/{router.id}", headers=headers, json={"enabled": False})
    assert response.status_code == 200
    assert response.json()["enabled"] is False and "secret" not in response.json()
    new_secret = "N3w-secret-value-123"
    response = await client.patch(
        f"{URL}/{router.id}", headers=headers, json={"secret": new_secret}
    )
    assert response.status_code == 200 and response.json()["secret"] == new_secret


async def test_patch_invalid_is_422_and_unchanged(client):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    for body in ({"name": None}, {"ip_address": "10.0.0.0/24"}, {"coa_port": -1}):
        response = await client.patch(f"{URL}/{router.id}", headers=headers, json=body)
        assert response.status_code == 422, body
    current = (await client.get(f"{URL}/{router.id}", headers=headers)).json()
    assert current["name"] == router.name and current["coa_port"] == 3799


async def test_patch_to_taken_ip_is_409(client):
    tenant, headers = await make_user_headers(client)
    first, second = await make_router(tenant=tenant), await make_router(tenant=tenant)
    response = await client.patch(
        f"{URL}/{second.id}", headers=headers, json={"ip_address": str(first.ip_address)}
    )
    assert response.status_code == 409


async def test_delete(client):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    assert (await client.delete(f"{URL}/{router.id}", headers=headers)).status_code == 204
    assert (await client.get(f"{URL}/{router.id}", headers=headers)).status_code == 404
    assert await count(Router, tenant_id=tenant.id) == 0


async def test_unknown_and_out_of_range_ids(client):
    _, headers = await make_user_headers(client)
    assert (await client.get(f"{URL}/2147483647", headers=headers)).status_code == 404
    assert (await client.get(f"{URL}/99999999999", headers=headers)).status_code == 422
    assert (await client.get(f"{URL}/abc", headers=headers)).status_code == 422


async def test_roles(client):
    """Support does not see routers; a tech works on allocated ones but adds none (the ISP's
    decision: routers:manage); an admin adds them."""
    tenant, support = await make_user_headers(client, role="support")
    _, tech = await make_user_headers(client, tenant=tenant, role="tech")
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    body = {"name": "r1", "ip_address": random_ip()}
    assert (await client.get(URL, headers=support)).status_code == 403
    assert (await client.get(URL, headers=tech)).status_code == 200
    for headers in (support, tech):
        response = await client.post(URL, headers=headers, json=body)
        assert response.status_code == 403
    assert await count(Router, tenant_id=tenant.id) == 0
    assert (await client.post(URL, headers=admin, json=body)).status_code == 201


async def test_router_names_refuse_control_characters(client):
    _, headers = await make_user_headers(client)
    for name in ("a\nb", "tab\there", "bell\x07"):
        body = {"name": name, "ip_address": random_ip()}
        response = await client.post("/api/v1/routers", headers=headers, json=body)
        assert response.status_code == 422, (name, response.text)


async def test_an_address_in_use_says_the_same_whoever_holds_it(client):
    tenant, headers = await make_user_headers(client)
    mine = await make_router(tenant=tenant)
    other_isp, _ = await make_user_headers(client)
    theirs = await make_router(tenant=other_isp)
    answers = [
        await client.post(URL, headers=headers, json={"name": "again", "ip_address": str(ip)})
        for ip in (mine.ip_address, theirs.ip_address)
    ]
    assert [a.status_code for a in answers] == [409, 409]
    assert answers[0].json() == answers[1].json()
    detail = answers[1].json()["detail"]
    assert "cannot be used" in detail and "registered" not in detail
