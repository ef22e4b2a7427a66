"""Joining an ISP by invitation (e-mail through the stack's SMTP server, SMS through the fake
Africa's Talking), resetting a password by a mailed link, and API tokens through the API: each
link works once, for 48 hours, on its own ISP's address only."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import text

from api.db import unit_of_work
from tests.factories import (
    PASSWORD,
    link_token,
    mailed_token,
    make_router,
    make_staff,
    make_tenant,
    texts_to,
)
from tests.test_staff_login import _from, _login_body, _person

INVITES = "/api/v1/staff/invites"
ACCEPT = "/api/v1/staff/invites/accept"
RESET = "/api/v1/auth/password-reset"
NEW_PASSWORD = "a wholly new passphrase 42"


def _email() -> str:
    return f"new-{secrets.token_hex(5)}@example.com"


async def _owner_headers(client, tenant, owner) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json=_login_body(tenant, owner))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _signs_in(client, tenant, email: str, password: str) -> bool:
    body = {"email": email, "password": password, "tenant": tenant.slug}
    return (await client.post("/api/v1/auth/login", json=body)).status_code == 200


async def test_an_emailed_invitation_lets_the_person_join_once_with_the_role_given(app):
    tenant, owner = await _person()
    router = await make_router(tenant=tenant)
    email = _email()
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        body = {"email": email, "role": "tech", "router_ids": [router.id]}
        made = await client.post(INVITES, json=body, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["role"] == "tech" and "token" not in made.text
        listed = await client.get(INVITES, headers=headers)
        assert [i["email"] for i in listed.json()] == [email]
        token = await mailed_token(email, "accept-invite")
        # A password the rules refuse: the link still works.
        weak = await client.post(ACCEPT, json={"token": token, "password": "password123"})
        assert weak.status_code == 422 and weak.json()["detail"]
        joined = await client.post(ACCEPT, json={"token": token, "password": NEW_PASSWORD})
        assert joined.status_code == 201, joined.text
        assert joined.json() == {"email": email, "role": "tech", "tenant": tenant.slug}
        again = await client.post(ACCEPT, json={"token": token, "password": NEW_PASSWORD})
        assert again.status_code == 404 and "already used" in again.json()["detail"]
        assert await _signs_in(client, tenant, email, NEW_PASSWORD)
        staff = (await client.get("/api/v1/staff", headers=headers)).json()
        [tech] = [s for s in staff if s["email"] == email]
        assert (tech["role"], tech["router_ids"]) == ("tech", [router.id])
        assert (await client.get(INVITES, headers=headers)).json() == []


async def test_an_sms_invitation_carries_the_link_in_one_message(app):
    tenant, owner = await _person()
    phone = "+2547" + "".join(secrets.choice("0123456789") for _ in range(8))
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        no_phone = await client.post(
            INVITES, json={"email": _email(), "role": "support", "channel": "sms"}, headers=headers
        )
        assert no_phone.status_code == 422 and "phone" in no_phone.json()["detail"]
        body = {"email": _email(), "role": "support", "channel": "sms", "phone": phone}
        made = await client.post(INVITES, json=body, headers=headers)
        assert made.status_code == 201, made.text
        assert made.json()["phone"] != phone and made.json()["phone"].endswith(phone[-2:])
        for _ in range(50):
            if sent := await texts_to(phone):
                break
            await asyncio.sleep(0.1)
        [message] = sent
        token = link_token(message, "accept-invite")
        joined = await client.post(ACCEPT, json={"token": token, "password": NEW_PASSWORD})
        assert joined.status_code == 201 and joined.json()["role"] == "support"


async def test_invitation_rules(app):
    tenant, owner = await _person()
    admin = await make_staff(tenant=tenant, role="admin")
    other_router = await make_router(tenant=await make_tenant())
    async with _from(app) as client:
        owner_headers = await _owner_headers(client, tenant, owner)
        admin_headers = await _owner_headers(client, tenant, admin)
        cases = [
            (admin_headers, {"email": _email(), "role": "owner"}, 403, "Only an owner"),
            (owner_headers, {"email": admin.email, "role": "tech"}, 409, "already on"),
            (owner_headers, {"email": _email(), "role": "admin", "router_ids": [1]}, 422,
             "Only techs"),
            (owner_headers, {"email": _email(), "role": "tech", "router_ids": [other_router.id]},
             422, "No router of this ISP"),
            (owner_headers, {"email": "not an address", "role": "tech"}, 422, "email"),
            (owner_headers, {"email": _email(), "role": "operator"}, 422, "role"),
            (owner_headers, {"email": "a" * 400 + "@example.com", "role": "tech"}, 422, "email"),
        ]  # fmt: skip
        for headers, body, status, words in cases:
            response = await client.post(INVITES, json=body, headers=headers)
            assert response.status_code == status, (body, response.text)
            assert words in response.text, (body, response.text)
        # An owner may invite an owner.
        made = await client.post(
            INVITES, json={"email": _email(), "role": "owner"}, headers=owner_headers
        )
        assert made.status_code == 201


async def test_a_withdrawn_or_expired_invitation_and_another_isps_address_are_404(app):
    tenant, owner = await _person()
    other = await make_tenant()
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        tokens = {}
        for name in ("withdrawn", "expired", "elsewhere"):
            email = _email()
            made = await client.post(
                INVITES, json={"email": email, "role": "tech"}, headers=headers
            )
            tokens[name] = (made.json()["id"], await mailed_token(email, "accept-invite"))
        assert (
            await client.delete(f"{INVITES}/{tokens['withdrawn'][0]}", headers=headers)
        ).status_code == 204
        assert (
            await client.delete(f"{INVITES}/{tokens['withdrawn'][0]}", headers=headers)
        ).status_code == 404
        async with unit_of_work() as s:
            await s.execute(
                text(
                    "UPDATE staff_link SET expires_at = now() - interval '1 second' WHERE id = :i"
                ),
                {"i": tokens["expired"][0]},
            )
        body = {"password": NEW_PASSWORD}
        for name in ("withdrawn", "expired"):
            response = await client.post(ACCEPT, json=body | {"token": tokens[name][1]})
            assert response.status_code == 404, (name, response.text)
        foreign = {"Host": f"{other.slug}.mnetifi.com"}
        response = await client.post(
            ACCEPT, json=body | {"token": tokens["elsewhere"][1]}, headers=foreign
        )
        assert response.status_code == 404
        # Refused on the wrong address, it still works on its own.
        response = await client.post(
            ACCEPT, json=body | {"token": tokens["elsewhere"][1]},
            headers={"Host": f"{tenant.slug}.mnetifi.com"},
        )  # fmt: skip
        assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"token": "unknown-token", "password": NEW_PASSWORD},
        {"token": "x" * 101, "password": NEW_PASSWORD},
        {"token": "", "password": NEW_PASSWORD},
        {"token": "a\u0000b", "password": NEW_PASSWORD},
        {"token": "t", "password": "p" * 5000},
        {"token": ["a"], "password": NEW_PASSWORD},
        {"password": NEW_PASSWORD},
        {"token": "t", "password": NEW_PASSWORD, "role": "owner"},
    ],
)
@pytest.mark.parametrize("url", [ACCEPT, f"{RESET}/confirm"])
async def test_unknown_and_hostile_link_input_is_a_4xx_with_a_sentence(app, url, body):
    async with _from(app) as client:
        response = await client.post(url, json=body)
        assert response.status_code in (404, 422), response.text
        assert response.json()["detail"]


async def test_guessing_links_is_cut_off_per_address(app):
    async with _from(app) as client:
        body = {"password": NEW_PASSWORD}
        statuses = [
            (await client.post(ACCEPT, json=body | {"token": f"guess-{i}"})).status_code
            for i in range(22)
        ]
        assert statuses[:20] == [404] * 20 and statuses[20:] == [429, 429]


# ------------------------------------------------------------------ password reset


async def test_a_reset_link_sets_a_new_password_once_and_ends_every_session(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        signed_in = await _owner_headers(client, tenant, staff)
        asked = await client.post(RESET, json={"email": staff.email, "tenant": tenant.slug})
        assert asked.status_code == 202
        token = await mailed_token(staff.email, "reset-password")
        weak = await client.post(f"{RESET}/confirm", json={"token": token, "password": "12345"})
        assert weak.status_code == 422
        done = await client.post(
            f"{RESET}/confirm", json={"token": token, "password": NEW_PASSWORD}
        )
        assert done.status_code == 204, done.text
        assert (await client.get("/api/v1/auth/me", headers=signed_in)).status_code == 401
        assert not await _signs_in(client, tenant, staff.email, PASSWORD)
        assert await _signs_in(client, tenant, staff.email, NEW_PASSWORD)
        again = await client.post(
            f"{RESET}/confirm", json={"token": token, "password": "yet another passphrase 7"}
        )
        assert again.status_code == 404


async def test_asking_for_a_reset_tells_nobody_which_accounts_exist(app):
    tenant, staff = await _person()
    unknown = _email()
    async with _from(app) as client:
        known = await client.post(RESET, json={"email": staff.email, "tenant": tenant.slug})
        nobody = await client.post(RESET, json={"email": unknown, "tenant": tenant.slug})
        no_isp = await client.post(RESET, json={"email": unknown, "tenant": "no-such-isp"})
        assert known.status_code == nobody.status_code == no_isp.status_code == 202
        assert known.json() == nobody.json() == no_isp.json()
        await mailed_token(staff.email, "reset-password")
        with pytest.raises(AssertionError):
            await mailed_token(unknown, "reset-password")


async def test_reset_requests_are_limited_per_account(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        body = {"email": staff.email, "tenant": tenant.slug}
        statuses = [(await client.post(RESET, json=body)).status_code for _ in range(6)]
        assert statuses == [202] * 5 + [429]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "", "tenant": "demo"},
        {"email": "a" * 400, "tenant": "demo"},
        {"email": "a@example.com", "tenant": "x" * 64},
        {"email": "a@example.com"},  # no ISP, and no subdomain to tell it
        {"email": "a@example.com", "tenant": "demo", "extra": 1},
        ["a@example.com"],
    ],
)
async def test_bad_reset_requests_are_a_4xx_with_a_sentence(app, body):
    async with _from(app) as client:
        response = await client.post(RESET, json=body)
        assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


# ------------------------------------------------------------------ API tokens


async def test_an_api_token_through_the_api_is_shown_once_acts_within_its_permissions(app):
    tenant, owner = await _person()
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        made = await client.post(
            "/api/v1/tokens", json={"name": "billing sync", "permissions": ["plans:read"]},
            headers=headers,
        )  # fmt: skip
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert token.startswith("mnt_") and token.startswith(made.json()["prefix"])
        listed = (await client.get("/api/v1/tokens", headers=headers)).json()
        assert [t["name"] for t in listed] == ["billing sync"] and token not in str(listed)
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await client.get("/api/v1/plans", headers=bearer)).status_code == 200
        assert (await client.get("/api/v1/routers", headers=bearer)).status_code == 403
        assert (await client.get("/api/v1/tokens", headers=bearer)).status_code == 403
        used = (await client.get("/api/v1/tokens", headers=headers)).json()[0]
        assert used["last_used_at"] is not None
        revoked = await client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=headers)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert (await client.get("/api/v1/plans", headers=bearer)).status_code == 401


async def test_a_token_follows_its_creators_standing(app):
    tenant, owner = await _person()
    admin = await make_staff(tenant=tenant, role="admin")
    async with _from(app) as client:
        owner_headers = await _owner_headers(client, tenant, owner)
        admin_headers = await _owner_headers(client, tenant, admin)
        made = await client.post(
            "/api/v1/tokens", json={"name": "ops", "permissions": ["plans:read", "routers:read"]},
            headers=admin_headers,
        )  # fmt: skip
        bearer = {"Authorization": f"Bearer {made.json()['token']}"}
        assert (await client.get("/api/v1/plans", headers=bearer)).status_code == 200
        # The creator becomes a tech: the token keeps only what a tech may do.
        demoted = await client.put(
            f"/api/v1/staff/{admin.id}/role", json={"role": "tech"}, headers=owner_headers
        )
        assert demoted.status_code == 200
        assert (await client.get("/api/v1/plans", headers=bearer)).status_code == 403
        assert (await client.get("/api/v1/routers", headers=bearer)).status_code == 200
        # Deactivated: the token stops working on the next request.
        gone = await client.post(f"/api/v1/staff/{admin.id}/deactivate", headers=owner_headers)
        assert gone.status_code == 200
        assert (await client.get("/api/v1/routers", headers=bearer)).status_code == 401


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "x", "permissions": []}, "permissions"),
        ({"name": "x", "permissions": ["plans:fly"]}, "permissions"),
        ({"name": "x", "permissions": ["platform:tenants"]}, "cannot hold"),
        ({"name": "", "permissions": ["plans:read"]}, "name"),
        ({"name": "n" * 81, "permissions": ["plans:read"]}, "name"),
        ({"name": "x", "permissions": ["plans:read"] * 41}, "permissions"),
        ({"name": "x", "permissions": "plans:read"}, "permissions"),
        ({"name": "x", "permissions": ["plans:read"], "admin": True}, "admin"),
    ],
)
async def test_bad_token_requests_are_a_4xx_with_a_sentence(app, body, words):
    tenant, owner = await _person()
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        response = await client.post("/api/v1/tokens", json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert words in response.text


async def test_token_names_are_unique_and_unknown_ids_are_404(app):
    tenant, owner = await _person()
    async with _from(app) as client:
        headers = await _owner_headers(client, tenant, owner)
        body = {"name": "sync", "permissions": ["plans:read"]}
        assert (await client.post("/api/v1/tokens", json=body, headers=headers)).status_code == 201
        twice = await client.post("/api/v1/tokens", json=body, headers=headers)
        assert twice.status_code == 409 and "already a token" in twice.json()["detail"]
        for bad in ("999999", "0", "abc", "99999999999"):
            response = await client.delete(f"/api/v1/tokens/{bad}", headers=headers)
            assert response.status_code in (404, 422) and response.json()["detail"]
