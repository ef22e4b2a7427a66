"""The audit log: append-only in the database, before/after values with secrets redacted, every
mutating route audited, and GET /api/v1/audit(.csv) filtered per ISP."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api import audit
from api.audit.service import safe_cell
from api.db import get_engine, unit_of_work
from api.main import create_app
from api.models import Tenant
from api.permissions import ROLE_PERMISSIONS
from api.tenancy import Principal
from deploy.fakes.daraja_state import DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, SANDBOX_PASSKEY
from tests.factories import (
    PASSWORD,
    accounting,
    mailed_token,
    make_plan,
    make_router,
    make_staff,
    make_tenant,
    make_user_headers,
)
from tests.radius.conftest import sql
from tests.test_cli import run

URL = "/api/v1/audit"
UA = "AuditTest/1.0 (+https://example.com)"
NEW_PASSWORD = "a wholly new passphrase 42"


async def events(tenant_id: int, action: str | None = None) -> list[dict[str, Any]]:
    where = "" if action is None else " AND action = :a"
    rows = await sql(
        f"SELECT * FROM audit_event WHERE tenant_id = :t{where} ORDER BY id",  # noqa: S608
        t=tenant_id,
        **({} if action is None else {"a": action}),
    )
    return [dict(r) for r in rows]


async def record_one(tenant: Tenant, action: str = "test.event", **kw: Any) -> int:
    async with unit_of_work() as session:
        event = await audit.record(session, Principal.cli(tenant.id), action, "test", "1", **kw)
        return event.id


# ------------------------------------------------------------------ append-only


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'forged' WHERE id = :id",
        "UPDATE audit_event SET actor_id = NULL WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
        "TRUNCATE audit_event",
    ],
)
async def test_the_apps_database_role_cannot_change_history(statement):
    tenant = await make_tenant()
    event_id = await record_one(tenant, details={"n": 1})
    # The application's own engine, hence its own role (the database's owner).
    async with get_engine().connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            await conn.execute(text(statement), {"id": event_id})
        await conn.rollback()
    [row] = await sql("SELECT action, details FROM audit_event WHERE id = :id", id=event_id)
    assert (row["action"], row["details"]) == ("test.event", {"n": 1})


async def test_deleting_an_isp_or_a_staff_member_keeps_their_history(client):
    tenant, headers = await make_user_headers(client)
    [login] = await events(tenant.id, "auth.login")
    assert login["actor_id"] is not None
    await sql("DELETE FROM staff_user WHERE id = :s", s=login["actor_id"])
    await sql("DELETE FROM tenant WHERE id = :t", t=tenant.id)
    [kept] = await events(tenant.id, "auth.login")
    assert kept == login  # not cascaded away, actor_id not nulled


async def test_only_the_operators_purge_removes_a_deleted_isps_rows():
    kept, gone = await make_tenant(), await make_tenant()
    await record_one(kept)
    await record_one(gone)
    refused = run("audit", "purge", "--tenant-id", str(kept.id), "--yes")
    assert refused.returncode == 1 and "still exists" in refused.stderr
    await sql("DELETE FROM tenant WHERE id = :t", t=gone.id)
    unconfirmed = run("audit", "purge", "--tenant-id", str(gone.id))
    assert unconfirmed.returncode == 1 and "--yes" in unconfirmed.stderr
    assert len(await events(gone.id)) == 1

    done = run("audit", "purge", "--tenant-id", str(gone.id), "--yes")
    assert done.returncode == 0, done.stderr
    assert await events(gone.id) == [] and len(await events(kept.id)) == 1
    [purge] = await sql(
        "SELECT actor, details FROM audit_event WHERE action = 'audit.purge' AND object_id = :t",
        t=str(gone.id),
    )
    assert (purge["actor"], purge["details"]) == ("cli", {"tenant_id": gone.id, "rows": 1})
    # The trigger is back on for everyone else.
    with pytest.raises(DBAPIError, match="append-only"):
        await sql("DELETE FROM audit_event WHERE tenant_id = :t", t=kept.id)


# ------------------------------------------------------------------ before / after


def test_diff_keeps_changed_fields_and_never_a_secret_value():
    before = {"name": "a", "price": 10, "secret": "old-S3CRET", "passkey": None, "api_key": "k1"}
    after = {"name": "a", "price": 20, "secret": "new-S3CRET", "passkey": "pk-1", "api_key": ""}
    assert audit.diff(before, after) == {
        "price": {"before": 10, "after": 20},
        "secret": "changed",
        "passkey": "set",
        "api_key": "cleared",
    }
    assert audit.diff({"consumer_secret": "x"}, {"consumer_secret": "x"}) == {}
    assert audit.redact({"webhook_token": "t0k3n", "encrypted_passkey": "zz", "n": 1}) == {
        "webhook_token": "set",
        "encrypted_passkey": "set",
        "n": 1,
    }


async def test_a_plan_change_records_before_and_after(client):
    tenant, headers = await make_user_headers(client)
    headers |= {"User-Agent": UA, "X-Forwarded-For": "198.51.100.7"}
    body = {"name": "Day", "price": 50, "duration_seconds": 86400}
    made = await client.post(
        "/api/v1/plans", headers=headers, json=body | {"upload_kbps": 1000, "download_kbps": 2000}
    )
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    changed = await client.patch(
        f"/api/v1/plans/{plan_id}", headers=headers, json={"price": 60, "name": "Day"}
    )
    assert changed.status_code == 200, changed.text

    [create] = await events(tenant.id, "plan.create")
    assert create["changes"]["price"] == {"before": None, "after": 50}
    [update] = await events(tenant.id, "plan.update")
    # Only what changed: the name was sent again unchanged.
    assert update["changes"] == {"price": {"before": 50, "after": 60}}
    assert (update["object_type"], update["object_id"]) == ("plan", str(plan_id))
    assert update["user_agent"] == UA
    assert update["created_at"] is not None and update["actor"].endswith("@example.com")

    assert (await client.delete(f"/api/v1/plans/{plan_id}", headers=headers)).status_code == 204
    [delete] = await events(tenant.id, "plan.delete")
    assert delete["changes"]["price"] == {"before": 60, "after": None}


async def test_a_settings_change_redacts_the_daraja_secrets(client):
    tenant, headers = await make_user_headers(client)
    secrets_ = {
        "consumer_key": "ck-Audit1plainKEY",
        "consumer_secret": "cs-Audit1plainSECRET",
        "passkey": "pk-Audit1plainPASSKEY",
    }
    first = {"environment": "sandbox", "account_type": "paybill", "shortcode": "174379"}
    url = "/api/v1/payments/settings"
    assert (await client.put(url, headers=headers, json=first | secrets_)).status_code == 200
    new_secret = "cs-Audit2rotatedSECRET"
    second = first | {"shortcode": "600999", "consumer_secret": new_secret}
    second |= {"consumer_key": secrets_["consumer_key"]}  # sent again, unchanged
    response = await client.put(url, headers=headers, json=second)
    assert response.status_code == 200, response.text

    [create] = await events(tenant.id, "payments.settings.create")
    assert {create["changes"][k] for k in secrets_} == {"set"}
    [update] = await events(tenant.id, "payments.settings.update")
    assert update["changes"] == {
        "shortcode": {"before": "174379", "after": "600999"},
        "consumer_secret": "changed",
    }
    stored = json.dumps([create, update], default=str)
    for value in (*secrets_.values(), new_secret):
        assert value not in stored

    isp = await client.patch("/api/v1/settings", headers=headers, json={"unused_voucher_days": 7})
    assert isp.status_code == 200
    [settings] = await events(tenant.id, "settings.update")
    assert settings["changes"] == {"unused_voucher_days": {"before": 30, "after": 7}}


async def test_a_router_secret_rotation_and_a_sheet_export_are_recorded(client):
    tenant, headers = await make_user_headers(client)
    router = await make_router(tenant=tenant)
    new_secret = "RotatedS3cretValue42xyz"
    response = await client.patch(
        f"/api/v1/routers/{router.id}", headers=headers, json={"secret": new_secret}
    )
    assert response.status_code == 200, response.text
    [rotation] = await events(tenant.id, "router.secret_rotate")
    assert rotation["changes"] == {"secret": "changed"}
    assert new_secret not in json.dumps(rotation, default=str)
    [create] = await events(tenant.id, "router.create")
    assert create["changes"]["secret"] == "set"
    assert create["changes"]["name"] == {"before": None, "after": router.name}

    plan = await make_plan(tenant=tenant)
    batch = await client.post(
        "/api/v1/vouchers/batches", headers=headers, json={"plan_id": plan.id, "count": 2}
    )
    batch_id, codes = batch.json()["batch_id"], batch.json()["codes"]
    sheet = await client.get(f"/api/v1/vouchers/batches/{batch_id}/sheet", headers=headers)
    assert sheet.status_code == 200
    [export] = await events(tenant.id, "voucher.sheet_export")
    assert (export["object_id"], export["details"]) == (batch_id, {"page": 1, "pages": 1})
    logged = json.dumps(await events(tenant.id), default=str)
    assert not any(code in logged for code in codes)  # codes are credentials


# ------------------------------------------------------------------ every mutating route

# Routes that are not a staff or operator action: customers on the captive portal (their
# purchases are in stk_request/payment) and Daraja's callbacks (stored raw in payment_event).
NOT_STAFF = {
    # The second step of signing in: audited as auth.second_factor(_failed), by
    # tests/test_staff_login.py; resending a code is part of it (the login itself is audited).
    ("POST", "/api/v1/auth/second-factor"),
    ("POST", "/api/v1/auth/second-factor/resend"),
    # A platform operator's sign-in, authenticator and sign-out: audited outside every ISP as
    # operator.login(_failed), operator.second_factor(_failed, _start, _enable) and
    # operator.logout, by tests/test_operators.py.
    ("POST", "/api/v1/platform/login"),
    ("POST", "/api/v1/platform/second-factor"),
    ("POST", "/api/v1/platform/second-factor/totp"),
    ("POST", "/api/v1/platform/second-factor/confirm"),
    ("POST", "/api/v1/platform/logout"),
    ("POST", "/api/v1/portal/quote"),
    ("POST", "/api/v1/portal/purchases"),
    ("POST", "/api/v1/portal/claims"),
}
# Every staff route that changes something, and the action it must leave in the audit log. A
# new mutating route fails test_every_mutating_route_is_listed until it is added here, and
# test_walking_every_staff_route_leaves_its_audit_row then calls it.
AUDITED = {
    ("POST", "/api/v1/auth/login"): "auth.login",
    ("POST", "/api/v1/auth/logout"): "auth.logout",
    ("POST", "/api/v1/routers"): "router.create",
    ("PATCH", "/api/v1/routers/{router_id}"): "router.update",
    ("DELETE", "/api/v1/routers/{router_id}"): "router.delete",
    ("POST", "/api/v1/plans"): "plan.create",
    ("PATCH", "/api/v1/plans/{plan_id}"): "plan.update",
    ("DELETE", "/api/v1/plans/{plan_id}"): "plan.delete",
    ("POST", "/api/v1/promos"): "promo.create",
    ("PATCH", "/api/v1/promos/{promo_id}"): "promo.update",
    ("DELETE", "/api/v1/promos/{promo_id}"): "promo.deactivate",
    ("POST", "/api/v1/vouchers/batches"): "voucher.batch_create",
    ("PATCH", "/api/v1/vouchers/{code}"): "voucher.update",
    ("POST", "/api/v1/vouchers/{code}/revoke"): "voucher.revoke",
    ("POST", "/api/v1/vouchers/{code}/disconnect"): "voucher.disconnect",
    ("POST", "/api/v1/sessions/{session_id}/disconnect"): "session.disconnect",
    ("POST", "/api/v1/fair-usage"): "fair_usage.create",
    ("DELETE", "/api/v1/fair-usage/{rule_id}"): "fair_usage.delete",
    ("PATCH", "/api/v1/settings"): "settings.update",
    ("PUT", "/api/v1/payments/settings"): "payments.settings.create",
    ("POST", "/api/v1/payments/settings/test"): "payments.settings.test",
    ("POST", "/api/v1/payments/c2b/register"): "payments.c2b.register",
    ("POST", "/api/v1/payments/resolve"): "payment.resolve",
    ("POST", "/api/v1/vouchers/{code}/extend"): "voucher.extend",
    ("PUT", "/api/v1/notifications/rules/{event}"): "notifications.rule",
    ("POST", "/api/v1/outages"): "outage.announce",
    ("POST", "/api/v1/outages/{outage_id}/end"): "outage.end",
    ("POST", "/api/v1/broadcasts"): "offer.send",
    ("POST", "/api/v1/broadcasts/consent/opt-out"): "offer.opt_out",
    ("PUT", "/api/v1/branding"): "branding.update",
    ("PUT", "/api/v1/branding/logo"): "branding.logo",
    ("DELETE", "/api/v1/branding/logo"): "branding.logo_delete",
    ("PUT", "/api/v1/staff/{staff_id}/routers"): "staff.routers",
    ("PUT", "/api/v1/staff/{staff_id}/role"): "staff.role",
    ("POST", "/api/v1/staff/{staff_id}/deactivate"): "staff.deactivate",
    ("PUT", "/api/v1/sms/settings"): "sms.settings.create",
    ("DELETE", "/api/v1/sms/settings"): "sms.settings.delete",
    ("POST", "/api/v1/sms/settings/test"): "sms.settings.test",
    ("PUT", "/api/v1/whatsapp/settings"): "whatsapp.settings.create",
    ("DELETE", "/api/v1/whatsapp/settings"): "whatsapp.settings.delete",
    ("PUT", "/api/v1/email/settings"): "email.settings.create",
    ("DELETE", "/api/v1/email/settings"): "email.settings.delete",
    ("POST", "/api/v1/staff/{staff_id}/second-factor/reset"): "staff.second_factor_reset",
    ("POST", "/api/v1/staff/invites"): "staff.invite",
    ("DELETE", "/api/v1/staff/invites/{invite_id}"): "staff.invite_withdraw",
    ("POST", "/api/v1/staff/invites/accept"): "staff.invite_accept",
    ("PUT", "/api/v1/staff/policy"): "staff.policy",
    ("POST", "/api/v1/tokens"): "api_token.create",
    ("DELETE", "/api/v1/tokens/{token_id}"): "api_token.revoke",
    ("POST", "/api/v1/me/second-factor/totp"): "second_factor.start",
    ("POST", "/api/v1/me/second-factor/sms"): "second_factor.start",
    ("POST", "/api/v1/me/second-factor/confirm"): "second_factor.enable",
    ("POST", "/api/v1/me/second-factor/recovery-codes"): "second_factor.recovery_codes",
    ("POST", "/api/v1/me/second-factor/disable"): "second_factor.disable",
    ("POST", "/api/v1/me/password"): "auth.password_change",
    ("DELETE", "/api/v1/me/sessions/{session_key}"): "auth.session_end",
    ("POST", "/api/v1/auth/password-reset"): "auth.password_reset_request",
    ("POST", "/api/v1/auth/password-reset/confirm"): "auth.password_reset",
    ("POST", "/api/v1/zones"): "zone.create",
    ("PATCH", "/api/v1/zones/{zone_id}"): "zone.update",
    ("DELETE", "/api/v1/zones/{zone_id}"): "zone.delete",
    ("PUT", "/api/v1/staff/{staff_id}/zones"): "staff.zones",
    ("POST", "/api/v1/ip-pools"): "ip_pool.create",
    ("PATCH", "/api/v1/ip-pools/{pool_id}"): "ip_pool.update",
    ("DELETE", "/api/v1/ip-pools/{pool_id}"): "ip_pool.delete",
    ("POST", "/api/v1/subscriber-plans"): "subscriber_plan.create",
    ("PATCH", "/api/v1/subscriber-plans/{subscriber_plan_id}"): "subscriber_plan.update",
    ("DELETE", "/api/v1/subscriber-plans/{subscriber_plan_id}"): "subscriber_plan.delete",
    ("POST", "/api/v1/subscribers"): "subscriber.create",
    ("PATCH", "/api/v1/subscribers/{subscriber_id}"): "subscriber.update",
    ("DELETE", "/api/v1/subscribers/{subscriber_id}"): "subscriber.delete",
    ("POST", "/api/v1/subscribers/{subscriber_id}/bill"): "subscriber.bill_push",
    ("POST", "/api/v1/subscribers/{subscriber_id}/unblock"): "subscriber.unblock",
}


def mutating_routes() -> set[tuple[str, str]]:
    paths = create_app().openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }


def test_every_mutating_route_is_listed():
    assert mutating_routes() == set(AUDITED) | NOT_STAFF


async def test_walking_every_staff_route_leaves_its_audit_row(client):
    tenant, headers = await make_user_headers(client)
    headers |= {"User-Agent": UA}
    plan = await make_plan(tenant=tenant)
    ids: dict[str, Any] = {}

    async def call(method: str, template: str, body: Any = None, **kw: Any) -> httpx.Response:
        path = template.format(**ids)
        seen = {e["id"] for e in await events(tenant.id)}
        response = await client.request(method, path, headers=headers, json=body, **kw)
        assert response.status_code < 300, (method, path, response.text)
        new = [e for e in await events(tenant.id) if e["id"] not in seen]
        expected = AUDITED[(method, template)]
        assert expected in [e["action"] for e in new], (method, template, new)
        assert all(e["user_agent"] == UA for e in new if e["action"] == expected)
        walked.add((method, template))
        return response

    walked: set[tuple[str, str]] = set()
    router = {"name": "site-a", "ip_address": "192.0.2.77"}
    ids["router_id"] = (await call("POST", "/api/v1/routers", router)).json()["id"]
    await call("PATCH", "/api/v1/routers/{router_id}", {"name": "site-b"})
    await call("DELETE", "/api/v1/routers/{router_id}")
    terms = {"name": "Hour", "price": 10, "duration_seconds": 3600}
    terms |= {"upload_kbps": 500, "download_kbps": 500}
    ids["plan_id"] = (await call("POST", "/api/v1/plans", terms)).json()["id"]
    await call("PATCH", "/api/v1/plans/{plan_id}", {"price": 11})
    await call("DELETE", "/api/v1/plans/{plan_id}")
    promo = {"code": "WALK10", "kind": "percent", "value": 10}
    ids["promo_id"] = (await call("POST", "/api/v1/promos", promo)).json()["id"]
    await call("PATCH", "/api/v1/promos/{promo_id}", {"max_uses": 5})
    await call("DELETE", "/api/v1/promos/{promo_id}")
    batch = {"plan_id": plan.id, "count": 1}
    ids["code"] = (await call("POST", "/api/v1/vouchers/batches", batch)).json()["codes"][0]
    await call("PATCH", "/api/v1/vouchers/{code}", {"device_limit": 2})
    # A live session of that voucher at a router of the ISP, as FreeRADIUS records it.
    nas = await make_router(tenant=tenant)
    for kind in ("start", "interim-update"):
        await accounting(
            kind=kind,
            tenant_id=tenant.id,
            nas=str(nas.ip_address),
            username=ids["code"],
            unique=f"walk-{tenant.slug}",
        )
    sessions = await client.get("/api/v1/sessions", headers=headers)
    [live] = sessions.json()
    ids["session_id"] = live["id"]
    await call("POST", "/api/v1/sessions/{session_id}/disconnect")
    await call("POST", "/api/v1/vouchers/{code}/extend", {"minutes": 30, "reason": "the walk"})
    await call("POST", "/api/v1/vouchers/{code}/disconnect")
    await call("POST", "/api/v1/vouchers/{code}/revoke")
    rule = {"scope": "isp", "threshold": 5, "rate_limit": "1M/1M"}
    ids["rule_id"] = (await call("POST", "/api/v1/fair-usage", rule)).json()["id"]
    await call("DELETE", "/api/v1/fair-usage/{rule_id}")
    await call("PATCH", "/api/v1/settings", {"acct_interim_interval": 600})
    account = {"environment": "sandbox", "account_type": "paybill", "shortcode": "174379"}
    account |= {"consumer_key": DEMO_CONSUMER_KEY, "consumer_secret": DEMO_CONSUMER_SECRET}
    await call("PUT", "/api/v1/payments/settings", account | {"passkey": SANDBOX_PASSKEY})
    await call("POST", "/api/v1/payments/settings/test")
    await call("POST", "/api/v1/payments/c2b/register")
    # Money held for staff (c2b.py would record it so), resolved into the plan of its price.
    await sql("INSERT INTO payment (tenant_id, source, receipt, amount, status, note) "
              "VALUES (:t, 'c2b', 'WALK000001', :a, 'held', 'held: walk')",
              t=tenant.id, a=plan.price)  # fmt: skip
    resolution = {"receipt": "WALK000001", "plan_id": plan.id, "reason": "the audit walk"}
    await call("POST", "/api/v1/payments/resolve", resolution)
    outage = {"message": "Maintenance for the audit walk"}
    ids["outage_id"] = (await call("POST", "/api/v1/outages", outage)).json()["id"]
    await call("POST", "/api/v1/outages/{outage_id}/end")
    ids["event"] = "expiry"
    await call("PUT", "/api/v1/notifications/rules/{event}", {"enabled": False})
    await call("PUT", "/api/v1/branding", {"display_name": "Walk WiFi"})
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    await call("PUT", "/api/v1/branding/logo", content=png)
    await call("DELETE", "/api/v1/branding/logo")
    sms = {"username": "demo-isp", "api_key": "demo-isp-api-key", "sender_id": "DEMOISP"}
    await call("PUT", "/api/v1/sms/settings", sms | {"shortcode": "22384"})
    await call("POST", "/api/v1/broadcasts", {"text": "An audited offer", "channels": ["sms"]})
    await call("POST", "/api/v1/broadcasts/consent/opt-out", {"phone": "+254712345678"})
    await call("POST", "/api/v1/sms/settings/test", {"to": "+254712345678"})
    await call("DELETE", "/api/v1/sms/settings")
    whatsapp = {"provider": "meta", "meta_phone_number_id": "100000000000001",
                "meta_access_token": "t", "meta_app_secret": "s", "meta_verify_token": "v",
                "meta_template": "mnetifi_notice"}  # fmt: skip
    await call("PUT", "/api/v1/whatsapp/settings", whatsapp)
    await call("DELETE", "/api/v1/whatsapp/settings")
    await call("PUT", "/api/v1/email/settings", {"from_address": "a@b.example", "from_name": "B"})
    await call("DELETE", "/api/v1/email/settings")
    ids["staff_id"] = (await make_staff(tenant=tenant, role="tech")).id
    await call("PUT", "/api/v1/staff/{staff_id}/routers", {"router_ids": [nas.id]})
    await _walk_subscribers(call, ids)
    await call("PUT", "/api/v1/staff/{staff_id}/role", {"role": "support"})
    await call("POST", "/api/v1/staff/{staff_id}/second-factor/reset")
    await call("POST", "/api/v1/staff/{staff_id}/deactivate")
    await _walk_identity(client, call, tenant, headers, ids)
    await call("POST", "/api/v1/auth/logout")
    staff = await make_staff(tenant=tenant)
    del headers["Authorization"]
    login = {"email": staff.email, "password": PASSWORD, "tenant": tenant.slug}
    await call("POST", "/api/v1/auth/login", login)
    wrong = {"email": staff.email, "password": "not-the-password", "tenant": tenant.slug}
    response = await client.post("/api/v1/auth/login", headers=headers, json=wrong)
    assert response.status_code == 401
    [failed] = await events(tenant.id, "auth.login_failed")
    assert (failed["actor"], failed["user_agent"]) == (staff.email, UA)

    assert walked == set(AUDITED)


async def _walk_identity(client, call, tenant: Tenant, headers: dict[str, str], ids) -> None:
    """Invitations, the sign-in policy, API tokens, the walker's own second factor, password and
    sessions, and a password reset (which ends every session: the walker signs in again)."""

    def signed_in(response: httpx.Response) -> None:  # a change that moved the session's id
        headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    gone = {"email": f"gone-{tenant.slug}@example.com", "role": "support"}
    ids["invite_id"] = (await call("POST", "/api/v1/staff/invites", gone)).json()["id"]
    await call("DELETE", "/api/v1/staff/invites/{invite_id}")
    invited = f"joins-{tenant.slug}@example.com"
    await call("POST", "/api/v1/staff/invites", {"email": invited, "role": "support"})
    token = await mailed_token(invited, "accept-invite")
    await call("POST", "/api/v1/staff/invites/accept", {"token": token, "password": NEW_PASSWORD})
    made = await call("POST", "/api/v1/tokens", {"name": "walk", "permissions": ["plans:read"]})
    ids["token_id"] = made.json()["id"]
    await call("DELETE", "/api/v1/tokens/{token_id}")

    secret = (await call("POST", "/api/v1/me/second-factor/totp", {})).json()["secret"]
    confirmed = await call(
        "POST", "/api/v1/me/second-factor/confirm", {"code": pyotp.TOTP(secret).now()}
    )
    signed_in(confirmed)
    await call("PUT", "/api/v1/staff/policy", {"require_second_factor": True})
    await client.put("/api/v1/staff/policy", headers=headers, json={"require_second_factor": False})
    codes = confirmed.json()["recovery_codes"]
    renewed = await call("POST", "/api/v1/me/second-factor/recovery-codes", {"proof": codes[0]})
    codes = renewed.json()["recovery_codes"]
    sms = {"phone": "+254712345678", "proof": codes[0]}
    await call("POST", "/api/v1/me/second-factor/sms", sms)
    signed_in(await call("POST", "/api/v1/me/second-factor/disable", {"proof": codes[1]}))
    change = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    signed_in(await call("POST", "/api/v1/me/password", change))

    email = (await client.get("/api/v1/auth/me", headers=headers)).json()["email"]
    again = {"email": email, "password": NEW_PASSWORD, "tenant": tenant.slug}
    other = (await client.post("/api/v1/auth/login", json=again)).json()["access_token"]
    ids["session_key"] = hashlib.sha256(other.encode()).hexdigest()
    await call("DELETE", "/api/v1/me/sessions/{session_key}")
    await call("POST", "/api/v1/auth/password-reset", {"email": email, "tenant": tenant.slug})
    token = await mailed_token(email, "reset-password")
    reset = {"token": token, "password": "the third passphrase 99"}
    await call("POST", "/api/v1/auth/password-reset/confirm", reset)
    assert (await client.get("/api/v1/auth/me", headers=headers)).status_code == 401
    again["password"] = reset["password"]
    signed_in(await client.post("/api/v1/auth/login", json=again))


# ------------------------------------------------------------------ reading and exporting


async def test_filters_newest_first_and_never_another_isps_rows(client):
    tenant_a, headers_a = await make_user_headers(client)
    tenant_b, headers_b = await make_user_headers(client)
    for headers in (headers_a, headers_b):
        for days in (7, 8):
            body = {"unused_voucher_days": days}
            assert (await client.patch("/api/v1/settings", headers=headers, json=body)).is_success
    plan = await make_plan(tenant=tenant_a)

    async def get(headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
        response = await client.get(URL, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    everything = await get(headers_a, limit=500)
    assert everything and all(e["id"] for e in everything)
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    own = {e["id"] for e in await events(tenant_a.id)}
    assert {e["id"] for e in everything} == own
    theirs = {e["id"] for e in await events(tenant_b.id)}
    assert theirs and not theirs & own

    settings = await get(headers_a, action="settings.update")
    assert [e["changes"]["unused_voucher_days"]["after"] for e in settings] == [8, 7]
    assert {e["action"] for e in await get(headers_a, action="plan.*")} == {"plan.create"}
    by_object = await get(headers_a, object_type="plan", object_id=str(plan.id))
    assert [e["action"] for e in by_object] == ["plan.create"]
    assert {e["actor"] for e in await get(headers_a, actor="cli")} == {"cli"}
    assert await get(headers_a, action="settings.update", limit=1, page=2) == settings[1:]
    # Keyset: older than the last id seen, as fast deep in the log as at its top.
    after_first = {"action": "settings.update", "before": settings[0]["id"]}
    assert await get(headers_a, **after_first) == settings[1:]
    assert await get(headers_a, before=min(own)) == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await get(headers_a, since=future) == []
    assert len(await get(headers_a, until=future, action="settings.update")) == 2
    # Another ISP's object id filters to nothing, not to their rows.
    b_plan = await make_plan(tenant=tenant_b)
    assert await get(headers_a, object_type="plan", object_id=str(b_plan.id)) == []


async def test_csv_export_has_the_rows_is_injection_safe_and_is_audited(client):
    tenant, headers = await make_user_headers(client)
    hostile = '=HYPERLINK("http://evil.example","x")'
    for ua in (hostile, "+1+2", "-2+3", "@SUM(A1)", "plain"):
        body = {"unused_voucher_days": 5 + len(ua)}
        response = await client.patch(
            "/api/v1/settings", headers=headers | {"User-Agent": ua}, json=body
        )
        assert response.status_code == 200

    response = await client.get(f"{URL}.csv", headers=headers, params={"action": "settings.*"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:5] == ["id", "created_at", "actor", "actor_id", "action"]
    agents = [r[rows[0].index("user_agent")] for r in rows[1:]]
    assert agents == ["plain", "'@SUM(A1)", "'-2+3", "'+1+2", "'" + hostile]
    assert all(r[4] == "settings.update" for r in rows[1:])
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)

    [export] = await events(tenant.id, "audit.export")
    assert export["details"] == {"filters": {"action": "settings.*"}}


def test_safe_cell():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("\t=1") == "'\t=1"
    assert safe_cell("ok") == "ok" and safe_cell(None) == "" and safe_cell({"a": 1}) == '{"a": 1}'


async def test_only_owners_and_admins_read_the_log(client):
    tenant, _ = await make_user_headers(client)
    assert (await client.get(URL)).status_code == 401
    assert (await client.get(f"{URL}.csv")).status_code == 401
    for role in ("tech", "support"):
        _, headers = await make_user_headers(client, tenant=tenant, role=role)
        for path in (URL, f"{URL}.csv"):
            response = await client.get(path, headers=headers)
            assert response.status_code == 403 and "audit:read" in response.json()["detail"]
    _, admin = await make_user_headers(client, tenant=tenant, role="admin")
    assert (await client.get(URL, headers=admin)).status_code == 200
    assert {r for r, p in ROLE_PERMISSIONS.items() if "audit:read" in p} == {"owner", "admin"}
    assert await events(tenant.id, "audit.export") == []


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"since": "2026-12-01T10:00:00"},  # no time zone: ambiguous
        {"until": "2026-13-45T00:00:00Z"},
        {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"},
        {"page": "0"},
        {"page": str(10**9)},
        {"page": "1e3"},
        {"before": "0"},
        {"before": "x"},
        {"before": str(2**63)},
        {"limit": "100000"},
        {"limit": "-1"},
        {"colour": "red"},
        {"action": "plan*.x"},
        {"actor": "a\x00b"},
        {"object_id": "x" * 1000},
        {"actor": ""},
    ],
)
async def test_bad_filters_are_4xx_with_a_sentence(client, params):
    tenant, headers = await make_user_headers(client)
    for path in (URL, f"{URL}.csv"):
        response = await client.get(path, headers=headers, params=params)
        assert response.status_code == 422, (params, response.text)
        detail = response.json()["detail"]
        messages = [d["msg"] for d in detail] if isinstance(detail, list) else [detail]
        assert all(len(m) > 5 for m in messages), detail
    assert await events(tenant.id, "audit.export") == []


async def _walk_subscribers(call: Any, ids: dict[str, Any]) -> None:
    """Zones, their allocation to a tech, IP pools, monthly plans and subscribers."""
    ids["zone_id"] = (await call("POST", "/api/v1/zones", {"name": "Kitengela"})).json()["id"]
    await call("PATCH", "/api/v1/zones/{zone_id}", {"latitude": -1.47, "longitude": 36.96})
    await call("PUT", "/api/v1/staff/{staff_id}/zones", {"zone_ids": [ids["zone_id"]]})
    pool = {"name": "static", "cidr": "10.30.0.0/24"}
    ids["pool_id"] = (await call("POST", "/api/v1/ip-pools", pool)).json()["id"]
    await call("PATCH", "/api/v1/ip-pools/{pool_id}", {"name": "static clients"})
    plan = {"name": "Home 10M", "price": 2500, "upload_kbps": 5000, "download_kbps": 10000}
    created = await call("POST", "/api/v1/subscriber-plans", plan)
    ids["subscriber_plan_id"] = created.json()["id"]
    await call("PATCH", "/api/v1/subscriber-plans/{subscriber_plan_id}", {"price": 2600})
    subscriber = {"username": "walk@home", "name": "Walk", "plan_id": ids["subscriber_plan_id"],
                  "zone_id": ids["zone_id"], "ip_address": "10.30.0.9"}  # fmt: skip
    ids["subscriber_id"] = (await call("POST", "/api/v1/subscribers", subscriber)).json()["id"]
    await call("PATCH", "/api/v1/subscribers/{subscriber_id}", {"name": "Walk Two"})
    await call("POST", "/api/v1/subscribers/{subscriber_id}/bill", {"phone": "0712345678"})
    await call("POST", "/api/v1/subscribers/{subscriber_id}/unblock", None)
    await call("DELETE", "/api/v1/subscribers/{subscriber_id}")
    await call("DELETE", "/api/v1/subscriber-plans/{subscriber_plan_id}")
    await call("DELETE", "/api/v1/ip-pools/{pool_id}")
    await call("PUT", "/api/v1/staff/{staff_id}/zones", {"zone_ids": []})
    await call("DELETE", "/api/v1/zones/{zone_id}")
