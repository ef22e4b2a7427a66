"""A person's own account through the API (/api/v1/me): setting up, switching and removing a
second factor, recovery codes, changing the password, "my sessions"; and the owner's switch that
requires a second factor of all staff."""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
import pytest
from sqlalchemy import text

from api.db import unit_of_work
from tests.factories import PASSWORD, make_staff, texts_to
from tests.test_staff_login import _enrol_totp, _from, _login_body, _person

ME = "/api/v1/me"
NEW_PASSWORD = "a wholly new passphrase 42"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _sign_in(client, tenant, staff, password: str = PASSWORD) -> dict:
    response = await client.post(
        "/api/v1/auth/login", json=_login_body(tenant, staff) | {"password": password}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _full(client, tenant, staff, secret: str | None = None) -> str:
    """A full session's id (proving the TOTP code when the person has one)."""
    out = await _sign_in(client, tenant, staff)
    if out["stage"] == "second_factor":
        assert secret is not None
        proved = await client.post(
            "/api/v1/auth/second-factor",
            # The next step's code: enrolling used the current one (each is accepted once).
            json={"code": pyotp.TOTP(secret).at(time.time() + 30)},
            headers=_bearer(out["access_token"]),
        )
        assert proved.status_code == 200, proved.text
        out = proved.json()
    assert out["stage"] == "full"
    return out["access_token"]


async def test_totp_set_up_through_the_api_turns_on_with_one_code_and_ends_other_sessions(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        other = await _full(client, tenant, staff)
        token = await _full(client, tenant, staff)
        start = await client.post(f"{ME}/second-factor/totp", json={}, headers=_bearer(token))
        assert start.status_code == 200, start.text
        enrolment = start.json()
        assert enrolment["qr_svg"].lstrip().startswith("<?xml") or "<svg" in enrolment["qr_svg"]
        assert enrolment["uri"].startswith("otpauth://totp/")
        status = (await client.get(f"{ME}/second-factor", headers=_bearer(token))).json()
        assert (status["method"], status["pending"]) == (None, "totp")  # not on before a code

        wrong = await client.post(
            f"{ME}/second-factor/confirm", json={"code": "000000"}, headers=_bearer(token)
        )
        assert wrong.status_code == 422 and "not right" in wrong.json()["detail"]
        code = pyotp.TOTP(enrolment["secret"]).now()
        confirmed = await client.post(
            f"{ME}/second-factor/confirm", json={"code": code}, headers=_bearer(token)
        )
        assert confirmed.status_code == 200, confirmed.text
        out = confirmed.json()
        assert len(out["recovery_codes"]) == 10 and out["stage"] == "full"
        # This session went on under a new id; the old id and the other session are over.
        assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401
        assert (await client.get("/api/v1/auth/me", headers=_bearer(other))).status_code == 401
        new = _bearer(out["access_token"])
        status = (await client.get(f"{ME}/second-factor", headers=new)).json()
        assert (status["method"], status["recovery_codes_left"]) == ("totp", 10)
        # The next login owes a code.
        assert (await _sign_in(client, tenant, staff))["stage"] == "second_factor"


async def test_switching_to_sms_needs_a_code_of_the_current_factor(app):
    tenant, staff = await _person()
    secret, recovery = await _enrol_totp(tenant.id, staff.id)
    phone = "+2547" + "".join(secrets.choice("0123456789") for _ in range(8))
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff, secret))
        url = f"{ME}/second-factor/sms"
        missing = await client.post(url, json={"phone": phone}, headers=headers)
        assert missing.status_code == 403 and "current second factor" in missing.json()["detail"]
        wrong = await client.post(url, json={"phone": phone, "proof": "123456"}, headers=headers)
        assert wrong.status_code == 403
        started = await client.post(
            url, json={"phone": phone, "proof": recovery[0]}, headers=headers
        )
        assert started.status_code == 202, started.text
        assert started.json()["sent_to"].startswith("+2547") and "*" in started.json()["sent_to"]
        [sent] = await texts_to(phone)
        code = next(w for w in sent.replace(".", " ").split() if w.isdigit() and len(w) == 6)
        done = await client.post(
            f"{ME}/second-factor/confirm", json={"code": code}, headers=headers
        )
        assert done.status_code == 200, done.text
        new = _bearer(done.json()["access_token"])
        assert (await client.get(f"{ME}/second-factor", headers=new)).json()["method"] == "sms"
        # The TOTP secret is gone: a TOTP code no longer proves anything.
        again = await client.post(
            f"{ME}/second-factor/recovery-codes",
            json={"proof": pyotp.TOTP(secret).now()},
            headers=new,
        )
        assert again.status_code == 403


async def test_recovery_codes_are_renewed_with_proof_and_the_old_ones_retire(app):
    tenant, staff = await _person()
    secret, old_codes = await _enrol_totp(tenant.id, staff.id)
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff, secret))
        url = f"{ME}/second-factor/recovery-codes"
        assert (await client.post(url, json={}, headers=headers)).status_code == 422
        renewed = await client.post(url, json={"proof": old_codes[0]}, headers=headers)
        assert renewed.status_code == 200, renewed.text
        codes = renewed.json()["recovery_codes"]
        assert len(codes) == 10 and not set(codes) & set(old_codes)
        stale = await client.post(url, json={"proof": old_codes[1]}, headers=headers)
        assert stale.status_code == 403


async def test_a_second_factor_is_turned_off_with_proof_unless_the_isp_requires_one(app):
    tenant, staff = await _person()
    secret, codes = await _enrol_totp(tenant.id, staff.id)
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff, secret))
        url = f"{ME}/second-factor/disable"
        await _require(tenant.id, True)
        refused = await client.post(url, json={"proof": codes[0]}, headers=headers)
        assert refused.status_code == 409
        await _require(tenant.id, False)
        off = await client.post(url, json={"proof": codes[1]}, headers=headers)
        assert off.status_code == 200, off.text
        new = _bearer(off.json()["access_token"])
        status = (await client.get(f"{ME}/second-factor", headers=new)).json()
        assert (status["method"], status["recovery_codes_left"]) == (None, 0)
        assert (await _sign_in(client, tenant, staff))["stage"] == "full"


async def _require(tenant_id: int, on: bool) -> None:
    async with unit_of_work() as s:
        await s.execute(
            text("UPDATE tenant SET require_second_factor = :on WHERE id = :t"),
            {"on": on, "t": tenant_id},
        )


async def test_a_login_sent_to_enrol_may_enrol_and_then_does_everything(app):
    tenant, staff = await _person()
    await _require(tenant.id, True)
    async with _from(app) as client:
        out = await _sign_in(client, tenant, staff)
        assert out["stage"] == "enrol"
        headers = _bearer(out["access_token"])
        assert (await client.get("/api/v1/plans", headers=headers)).status_code == 403
        # Not even the routes of a finished login's own account beyond enrolment.
        assert (await client.get(f"{ME}/sessions", headers=headers)).status_code == 403
        start = await client.post(f"{ME}/second-factor/totp", json={}, headers=headers)
        assert start.status_code == 200
        code = pyotp.TOTP(start.json()["secret"]).now()
        done = await client.post(
            f"{ME}/second-factor/confirm", json={"code": code}, headers=headers
        )
        assert done.status_code == 200
        full = _bearer(done.json()["access_token"])
        assert (await client.get("/api/v1/plans", headers=full)).status_code == 200


async def test_only_an_enrolled_owner_requires_a_second_factor_and_the_unenrolled_are_signed_out(
    app,
):
    tenant, owner = await _person()
    admin = await make_staff(tenant=tenant, role="admin")
    tech = await make_staff(tenant=tenant, role="tech")
    url = "/api/v1/staff/policy"
    async with _from(app) as client:
        owner_headers = _bearer(await _full(client, tenant, owner))
        admin_headers = _bearer(await _full(client, tenant, admin))
        tech_headers = _bearer(await _full(client, tenant, tech))
        on = {"require_second_factor": True}
        assert (await client.put(url, json=on, headers=admin_headers)).status_code == 403
        unenrolled = await client.put(url, json=on, headers=owner_headers)
        assert unenrolled.status_code == 409 and "your own second factor" in unenrolled.text
        secret, _ = await _enrol_totp(tenant.id, owner.id)
        owner_headers = _bearer(await _full(client, tenant, owner, secret))
        turned = await client.put(url, json=on, headers=owner_headers)
        assert turned.status_code == 200 and turned.json() == on
        # The unenrolled are signed out; signing in again, they may only enrol.
        assert (await client.get("/api/v1/routers", headers=tech_headers)).status_code == 401
        assert (await client.get("/api/v1/plans", headers=admin_headers)).status_code == 401
        assert (await _sign_in(client, tenant, tech))["stage"] == "enrol"
        assert (await client.get(url, headers=owner_headers)).json() == on
        async with unit_of_work() as s:
            [row] = (
                await s.execute(
                    text(
                        "SELECT changes FROM audit_event WHERE tenant_id = :t AND action ="
                        " 'staff.policy'"
                    ),
                    {"t": tenant.id},
                )  # fmt: skip
            ).all()
        assert row.changes == {"require_second_factor": {"before": False, "after": True}}


async def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        other = _bearer(await _full(client, tenant, staff))
        token = await _full(client, tenant, staff)
        url = f"{ME}/password"
        wrong = await client.post(
            url, json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
            headers=_bearer(token),
        )  # fmt: skip
        assert wrong.status_code == 403 and "current password" in wrong.json()["detail"]
        weak = await client.post(
            url, json={"current_password": PASSWORD, "new_password": "password123"},
            headers=_bearer(token),
        )  # fmt: skip
        assert weak.status_code == 422 and weak.json()["detail"]
        changed = await client.post(
            url, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=_bearer(token),
        )  # fmt: skip
        assert changed.status_code == 200, changed.text
        assert (await client.get("/api/v1/auth/me", headers=other)).status_code == 401
        assert (await client.get("/api/v1/auth/me", headers=_bearer(token))).status_code == 401
        now = _bearer(changed.json()["access_token"])
        assert (await client.get("/api/v1/auth/me", headers=now)).status_code == 200
        old = await client.post("/api/v1/auth/login", json=_login_body(tenant, staff))
        assert old.status_code == 401
        assert (await _sign_in(client, tenant, staff, NEW_PASSWORD))["stage"] == "full"


async def test_my_sessions_lists_where_i_am_signed_in_and_ends_one(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        phone = await client.post(
            "/api/v1/auth/login", json=_login_body(tenant, staff),
            headers={"User-Agent": "Mozilla/5.0 (Linux; Android 13) Phone"},
        )  # fmt: skip
        phone_token = phone.json()["access_token"]
        token = await _full(client, tenant, staff)
        listed = await client.get(f"{ME}/sessions", headers=_bearer(token))
        assert listed.status_code == 200
        sessions = {s["key"]: s for s in listed.json()}
        mine = hashlib.sha256(token.encode()).hexdigest()
        theirs = hashlib.sha256(phone_token.encode()).hexdigest()
        assert set(sessions) == {mine, theirs}
        assert sessions[mine]["current"] and not sessions[theirs]["current"]
        assert "Android" in sessions[theirs]["user_agent"]
        assert sessions[theirs]["ip"] and sessions[theirs]["last_used_at"]

        ended = await client.delete(f"{ME}/sessions/{theirs}", headers=_bearer(token))
        assert ended.status_code == 204
        assert (
            await client.get("/api/v1/auth/me", headers=_bearer(phone_token))
        ).status_code == 401
        again = await client.delete(f"{ME}/sessions/{theirs}", headers=_bearer(token))
        assert again.status_code == 404
        bad = await client.delete(f"{ME}/sessions/not-a-key", headers=_bearer(token))
        assert bad.status_code == 422


async def test_another_persons_session_cannot_be_ended_from_my_sessions(app):
    tenant, staff = await _person()
    colleague = await make_staff(tenant=tenant, role="admin")
    async with _from(app) as client:
        mine = await _full(client, tenant, staff)
        theirs = await _full(client, tenant, colleague)
        key = hashlib.sha256(theirs.encode()).hexdigest()
        refused = await client.delete(f"{ME}/sessions/{key}", headers=_bearer(mine))
        assert refused.status_code == 404
        assert (await client.get("/api/v1/auth/me", headers=_bearer(theirs))).status_code == 200


async def test_an_api_token_has_no_account_of_its_own(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff))
        made = await client.post(
            "/api/v1/tokens", json={"name": "sync", "permissions": ["self"]}, headers=headers
        )
        assert made.status_code == 201, made.text
        token = _bearer(made.json()["token"])
        for method, path in [("GET", f"{ME}/sessions"), ("GET", f"{ME}/second-factor")]:
            response = await client.request(method, path, headers=token)
            assert response.status_code == 403 and "API token" in response.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/second-factor/totp", {"proof": "x" * 33}),
        ("/second-factor/totp", {"surprise": 1}),
        ("/second-factor/sms", {"phone": "0712345678"}),
        ("/second-factor/sms", {"phone": "+2547" + "1" * 40}),
        ("/second-factor/confirm", {"code": ""}),
        ("/second-factor/confirm", {"code": "1" * 1000}),
        ("/second-factor/confirm", ["123456"]),
        ("/second-factor/recovery-codes", {"proof": None}),
        ("/second-factor/disable", {}),
        ("/password", {"current_password": "x", "new_password": "y" * 2000}),
        ("/password", {"current_password": "", "new_password": NEW_PASSWORD}),
        ("/password", "not json"),
    ],
)
async def test_bad_input_to_my_account_is_a_4xx_with_a_sentence(app, path, body):
    tenant, staff = await _person()
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff))
        response = await client.post(f"{ME}{path}", json=body, headers=headers)
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["detail"]


async def test_confirming_with_nothing_started_is_a_422(app):
    tenant, staff = await _person()
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff))
        response = await client.post(
            f"{ME}/second-factor/confirm", json={"code": "123456"}, headers=headers
        )
        assert response.status_code == 422 and "nothing to confirm" in response.json()["detail"]


async def test_an_owner_resets_a_lost_second_factor_and_the_person_sets_up_a_new_one(app):
    tenant, owner = await _person()
    admin = await make_staff(tenant=tenant, role="admin")
    tech = await make_staff(tenant=tenant, role="tech")
    secret, _ = await _enrol_totp(tenant.id, tech.id)
    await _enrol_totp(tenant.id, owner.id)
    async with _from(app) as client:
        tech_session = _bearer(await _full(client, tenant, tech, secret))
        admin_headers = _bearer(await _full(client, tenant, admin))
        url = "/api/v1/staff/{}/second-factor/reset"
        # An admin cannot reset an owner's, and nobody resets their own this way.
        assert (await client.post(url.format(owner.id), headers=admin_headers)).status_code == 403
        own = await client.post(url.format(admin.id), headers=admin_headers)
        assert own.status_code == 403 and "/api/v1/me" in own.json()["detail"]
        reset = await client.post(url.format(tech.id), headers=admin_headers)
        assert reset.status_code == 200, reset.text
        assert (await client.get("/api/v1/auth/me", headers=tech_session)).status_code == 401
        assert (await _sign_in(client, tenant, tech))["stage"] == "full"
        async with unit_of_work() as s:
            [row] = (
                await s.execute(
                    text(
                        "SELECT changes FROM audit_event WHERE tenant_id = :t"
                        " AND action = 'staff.second_factor_reset'"
                    ),
                    {"t": tenant.id},
                )  # fmt: skip
            ).all()
        assert row.changes == {"second_factor": {"before": "totp", "after": None}}


async def test_refusals_before_any_code_is_checked_cost_no_attempt(app, monkeypatch):
    """Confirming with nothing started, or asking without the code, checks nothing: it must not
    lock a person out as wrong codes would."""
    from api.config import get_settings  # noqa: PLC0415

    monkeypatch.setattr(get_settings(), "login_max_failures", 3)
    tenant, staff = await _person()
    async with _from(app) as client:
        headers = _bearer(await _full(client, tenant, staff))
        for _ in range(5):
            nothing = await client.post(
                f"{ME}/second-factor/confirm", json={"code": "123456"}, headers=headers
            )
            assert nothing.status_code == 422, nothing.text
        secret, _ = await _enrol_totp(tenant.id, staff.id)
        for _ in range(5):
            missing = await client.post(f"{ME}/second-factor/totp", json={}, headers=headers)
            assert missing.status_code == 403, missing.text
        # A sign-in still works: nothing above counted against the account.
        assert (await _sign_in(client, tenant, staff))["stage"] == "second_factor"
