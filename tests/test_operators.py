"""Platform operators: on the platform's own host only, on the staff session store, and never
without their authenticator (TOTP): a login owes a code, an operator without one may only set
it up; codes work once and wrong ones count like wrong passwords."""

from __future__ import annotations

import time

import pyotp
import pytest
from sqlalchemy import text

from api.config import get_settings
from api.db import unit_of_work
from tests.factories import PASSWORD, make_operator, make_user_headers, operator_headers
from tests.test_cli import run
from tests.test_staff_login import _from

LOGIN = "/api/v1/platform/login"
PROVE = "/api/v1/platform/second-factor"
TENANTS = "/api/v1/platform/tenants"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _password_step(client, email: str, password: str = PASSWORD) -> dict:
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def _audit(email: str) -> list[tuple[str, int | None]]:
    async with unit_of_work() as session:
        rows = await session.execute(
            text("SELECT action, tenant_id FROM audit_event WHERE actor = :a ORDER BY id"),
            {"a": f"operator:{email}"},
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_a_password_alone_never_signs_an_operator_in(app):
    operator = await make_operator()
    async with _from(app) as client:
        isp_host = {"host": f"somewhere.{get_settings().base_domain}"}
        body = {"email": operator.email, "password": PASSWORD}
        assert (await client.post(LOGIN, json=body, headers=isp_host)).status_code == 403
        pending = await _password_step(client, operator.email)
        assert (pending["stage"], pending["second_factor"]) == ("second_factor", "totp")
        owed = _bearer(pending["access_token"])
        assert (await client.get(TENANTS, headers=owed)).status_code == 401
        wrong = await client.post(PROVE, json={"code": "000000"}, headers=owed)
        assert wrong.status_code == 401
        code = pyotp.TOTP(operator.secret).now()
        signed_in = await client.post(PROVE, json={"code": code}, headers=owed)
        assert signed_in.status_code == 200 and signed_in.json()["stage"] == "full"
        full = _bearer(signed_in.json()["access_token"])
        assert (await client.get(TENANTS, headers=owed)).status_code == 401  # the old id
        assert (await client.get(TENANTS, headers=full)).status_code == 200
        # The same code again, on the next login: refused (a code works once).
        again = _bearer((await _password_step(client, operator.email))["access_token"])
        assert (await client.post(PROVE, json={"code": code}, headers=again)).status_code == 401
        wrong_password = await client.post(LOGIN, json=body | {"password": "y" * 12})
        assert wrong_password.status_code == 401
    assert await _audit(operator.email) == [
        ("operator.login", None),
        ("operator.second_factor_failed", None),
        ("operator.second_factor", None),
        ("operator.login", None),
        ("operator.second_factor_failed", None),
        ("operator.login_failed", None),
    ]


async def test_a_recovery_code_signs_an_operator_in_once(app):
    operator = await make_operator()
    code = operator.recovery_codes[0]
    async with _from(app) as client:
        for expected in (200, 401):
            pending = _bearer((await _password_step(client, operator.email))["access_token"])
            response = await client.post(PROVE, json={"code": code}, headers=pending)
            assert response.status_code == expected, response.text


async def test_an_operator_without_an_authenticator_may_only_set_one_up(app):
    operator = await make_operator(enrolled=False)
    async with _from(app) as client:
        out = await _password_step(client, operator.email)
        assert out["stage"] == "enrol"
        enrolling = _bearer(out["access_token"])
        refused = await client.get(TENANTS, headers=enrolling)
        assert refused.status_code == 403 and "second factor" in refused.json()["detail"]
        start = await client.post(f"{PROVE}/totp", json={}, headers=enrolling)
        assert start.status_code == 200, start.text
        assert (
            start.json()["uri"].startswith("otpauth://totp/") and "<svg" in start.json()["qr_svg"]
        )
        secret = start.json()["secret"]
        bad = await client.post(f"{PROVE}/confirm", json={"code": "123456"}, headers=enrolling)
        assert bad.status_code == 422
        done = await client.post(
            f"{PROVE}/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=enrolling
        )
        assert done.status_code == 200, done.text
        assert len(done.json()["recovery_codes"]) == 10
        full = _bearer(done.json()["access_token"])
        assert (await client.get(TENANTS, headers=full)).status_code == 200
        assert (await _password_step(client, operator.email))["stage"] == "second_factor"
        actions = [a for a, _ in await _audit(operator.email)]
        assert actions[1:3] == ["operator.second_factor_start", "operator.second_factor_enable"]
        # Replacing it needs a code of it.
        again = await client.post(f"{PROVE}/totp", json={}, headers=full)
        assert again.status_code == 403
        proof = {"proof": done.json()["recovery_codes"][0]}
        assert (await client.post(f"{PROVE}/totp", json=proof, headers=full)).status_code == 200


async def test_signing_in_again_between_wrong_codes_does_not_reset_their_count(app, monkeypatch):
    monkeypatch.setattr(get_settings(), "login_max_failures", 3)
    operator = await make_operator()
    async with _from(app) as client:
        statuses = []
        for _ in range(4):
            pending = await client.post(LOGIN, json={"email": operator.email, "password": PASSWORD})
            if pending.status_code != 200:
                statuses.append(pending.status_code)
                continue
            wrong = await client.post(
                PROVE, json={"code": "000000"}, headers=_bearer(pending.json()["access_token"])
            )
            statuses.append(wrong.status_code)
        assert statuses[-1] == 429, statuses


async def test_operator_and_isp_sessions_stay_on_their_own_side(app):
    operator = await make_operator()
    async with _from(app) as client:
        headers = await operator_headers(client, operator)
        assert (await client.get("/api/v1/routers", headers=headers)).status_code == 403
        isp_host = headers | {"host": f"somewhere.{get_settings().base_domain}"}
        assert (await client.get(TENANTS, headers=isp_host)).status_code == 403
        _, staff = await make_user_headers(client)
        assert (await client.get(TENANTS, headers=staff)).status_code == 403
        token = _bearer("mnt_" + "x" * 40)
        assert (await client.get(TENANTS, headers=token)).status_code == 403
        client.cookies.clear()  # the sign-ins above left their cookies
        assert (await client.get(TENANTS)).status_code == 401


async def test_logout_and_deactivation_end_an_operators_session(app):
    operator = await make_operator()
    async with _from(app) as client:
        first = await operator_headers(client, operator)
        second = await operator_headers(client, operator)
        assert (await client.post("/api/v1/platform/logout", headers=first)).status_code == 204
        assert (await client.get(TENANTS, headers=first)).status_code == 401
        assert (await client.get(TENANTS, headers=second)).status_code == 200
        assert ("operator.logout", None) in await _audit(operator.email)
        async with unit_of_work() as session:
            await session.execute(
                text("UPDATE platform_operator SET active = false WHERE id = :i"),
                {"i": operator.id},
            )
        assert (await client.get(TENANTS, headers=second)).status_code == 401


async def test_confirming_ends_the_operators_other_sessions(app):
    operator = await make_operator()
    async with _from(app) as client:
        other = await operator_headers(client, operator)
        headers = await operator_headers(client, operator)
        proof = {"proof": operator.recovery_codes.pop()}
        secret = (await client.post(f"{PROVE}/totp", json=proof, headers=headers)).json()["secret"]
        code = pyotp.TOTP(secret).at(time.time())
        done = await client.post(f"{PROVE}/confirm", json={"code": code}, headers=headers)
        assert done.status_code == 200, done.text
        assert (await client.get(TENANTS, headers=other)).status_code == 401
        full = _bearer(done.json()["access_token"])
        assert (await client.get(TENANTS, headers=full)).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (PROVE, {"code": ""}),
        (PROVE, {"code": "1" * 33}),
        (PROVE, {"code": ["123456"]}),
        (LOGIN, {"email": "", "password": PASSWORD}),
        (LOGIN, {"email": "a@example.com", "password": "p" * 2000}),
        (f"{PROVE}/totp", {"proof": "x" * 33}),
        (f"{PROVE}/confirm", {"code": ""}),
        (f"{PROVE}/confirm", {}),
    ],
)
async def test_bad_operator_input_is_a_4xx_with_a_sentence(app, path, body):
    operator = await make_operator()
    async with _from(app) as client:
        headers = await operator_headers(client, operator)
        response = await client.post(path, json=body, headers=headers)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["detail"]


async def test_the_cli_resets_a_lost_authenticator_and_ends_the_operators_sessions(app):
    operator = await make_operator()
    async with _from(app) as client:
        headers = await operator_headers(client, operator)
        result = run("operator", "reset-2fa", "--email", operator.email)
        assert result.returncode == 0, result.stderr
        assert (await client.get(TENANTS, headers=headers)).status_code == 401
        assert (await _password_step(client, operator.email))["stage"] == "enrol"
    assert ("operator.second_factor_reset", None) in [
        (a, t) for a, t in await _audit_cli(operator.id)
    ]
    unknown = run("operator", "reset-2fa", "--email", "nobody@example.com")
    assert unknown.returncode != 0 and "No platform operator" in unknown.stderr


async def _audit_cli(operator_id: int) -> list[tuple[str, int | None]]:
    async with unit_of_work() as session:
        rows = await session.execute(
            text(
                "SELECT action, tenant_id FROM audit_event WHERE actor = 'cli'"
                " AND object_type = 'platform_operator' AND object_id = :i"
            ),
            {"i": str(operator_id)},
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
