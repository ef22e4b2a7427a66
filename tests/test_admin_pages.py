"""The dashboard's sign-in pages in process (the browser tests drive them for real): the
sign-in form's own CSRF token, forms from another site refused, and bad input answered with a
4xx and a sentence, never a 500."""

from __future__ import annotations

import re

import pytest

from api.models import AuditEvent
from tests.factories import PASSWORD, count, make_plan, make_staff, make_tenant, make_voucher
from tests.test_staff_login import _from


async def _form(client, host: dict[str, str]) -> str:
    page = await client.get("/admin/login", headers=host)
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def _isp():
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, role="owner")
    return {"host": f"{tenant.slug}.mnetifi.com"}, staff


async def test_the_sign_in_form_needs_its_own_token_and_this_site(app):
    host, staff = await _isp()
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": staff.email, "password": PASSWORD}
        missing = await client.post("/admin/login", data=body, headers=host)
        assert missing.status_code == 403 and "expired" in missing.text
        wrong = await client.post("/admin/login", data=body | {"csrf_token": "x"}, headers=host)
        assert wrong.status_code == 403
        elsewhere = host | {"origin": "https://evil.example"}
        token = await _form(client, host)
        forged = await client.post(
            "/admin/login", data=body | {"csrf_token": token}, headers=elsewhere
        )
        assert forged.status_code == 403 and "another site" in forged.text
        token = await _form(client, host)
        ok = await client.post("/admin/login", data=body | {"csrf_token": token}, headers=host)
        assert ok.status_code == 303 and ok.headers["location"] == "/admin/"
        assert "mnetifi_session" in ok.headers["set-cookie"]


async def test_a_signed_in_form_without_the_sessions_token_is_refused(app):
    host, staff = await _isp()
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": staff.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        # The cookie is set; a password change without the session's token is refused.
        change = {"current_password": PASSWORD, "new_password": "a wholly new passphrase 42"}
        refused = await client.post("/admin/account/password", data=change, headers=host)
        assert refused.status_code == 403 and "CSRF" in refused.text


@pytest.mark.parametrize(
    "body",
    [
        {"email": "", "password": ""},
        {"email": "a" * 400, "password": PASSWORD},
        {"email": "a@example.com", "password": "p" * 2000},
        {"email": ["a"], "password": "x"},
    ],
)
async def test_bad_sign_in_input_is_a_4xx_with_a_sentence(app, body):
    host, _ = await _isp()
    async with _from(app) as client:
        token = await _form(client, host)
        response = await client.post(
            "/admin/login", data=body | {"csrf_token": token}, headers=host
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.text.strip()


async def test_the_code_page_without_a_pending_login_goes_to_sign_in(app):
    host, _ = await _isp()
    async with _from(app) as client:
        page = await client.get("/admin/login/code", headers=host)
        assert page.status_code == 303 and page.headers["location"] == "/admin/login"
        posted = await client.post("/admin/login/code", data={"code": "123456"}, headers=host)
        assert posted.status_code == 303


@pytest.mark.parametrize("page", ["reset-password", "accept-invite"])
@pytest.mark.parametrize(
    "body",
    [
        {"token": "unknown", "password": "a wholly new passphrase 42"},
        {"token": "x" * 101, "password": "a wholly new passphrase 42"},
        {"token": "", "password": ""},
        {"token": "t", "password": "p" * 2000},
    ],
)
async def test_hostile_link_forms_are_a_4xx_with_a_sentence(app, page, body):
    host, _ = await _isp()
    async with _from(app) as client:
        shown = await client.get(f"/admin/{page}", headers=host)
        token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
        assert shown.status_code == 200 and token
        response = await client.post(
            f"/admin/{page}", data=body | {"csrf_token": token.group(1)}, headers=host
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.text.strip()


async def test_asking_for_a_reset_link_answers_alike_for_anyone(app):
    host, staff = await _isp()
    async with _from(app) as client:
        answers = []
        for email in (staff.email, "nobody-here@example.com"):
            shown = await client.get("/admin/forgot", headers=host)
            token = re.search(r'name="csrf_token" value="([^"]+)"', shown.text)
            assert token
            answer = await client.post(
                "/admin/forgot", data={"email": email, "csrf_token": token.group(1)}, headers=host
            )
            assert answer.status_code == 200
            answers.append(answer.text.replace(email, "EMAIL"))
        assert answers[0] == answers[1]


async def test_another_isps_voucher_is_a_not_found_page_and_the_api_stays_json(app):
    """Changing an id in the address reaches nothing of another ISP: a page saying not found."""
    host_a, owner_a = await _isp()
    tenant_a = await make_tenant()
    plan = await make_plan(tenant=tenant_a)
    voucher = await make_voucher(plan=plan)
    async with _from(app) as client:
        token = await _form(client, host_a)
        body = {"email": owner_a.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host_a)).status_code == 303
        page = await client.get(f"/admin/vouchers/{voucher.code}", headers=host_a)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "Not found" in page.text and voucher.code not in page.text.split("<main")[0]
        api = await client.get(f"/api/v1/vouchers/{voucher.code}", headers=host_a)
        assert api.status_code == 404 and api.headers["content-type"] == "application/json"


async def test_the_audit_page_pages_older_by_keyset(app):
    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    for _ in range(55):
        await make_plan(tenant=tenant)  # plan.create, audited
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": owner.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        first = await client.get("/admin/audit", headers=host)
        assert first.status_code == 200 and 'id="newer"' not in first.text
        older = re.search(r'href="/admin/audit\?before=(\d+)" id="older"', first.text)
        assert older, "a full page links to the older events"
        rest = await client.get(f"/admin/audit?before={older.group(1)}", headers=host)
        assert rest.status_code == 200 and 'id="newer"' in rest.text
        shown = rest.text.count('class="list-group-item small event')
        assert shown == await count(AuditEvent, tenant_id=tenant.id) - 50
        assert 'id="older"' not in rest.text
        bad = await client.get("/admin/audit?before=x", headers=host)
        assert bad.status_code == 422 and "integer" in bad.text


def test_the_dashboard_shows_nairobi_time():
    """The database keeps UTC; every time on the dashboard is Nairobi's (EAT, UTC+3), so 22:30
    UTC is the next day's 01:30 there, and says so."""
    from datetime import UTC, datetime  # noqa: PLC0415

    from api.admin.web import nairobi_time, templates  # noqa: PLC0415

    late = datetime(2026, 12, 6, 22, 30, 15, tzinfo=UTC)
    assert nairobi_time(late) == "2026-12-07 01:30 EAT"
    assert nairobi_time(late, seconds=True) == "2026-12-07 01:30:15 EAT"
    assert nairobi_time(None) == "—"
    assert templates.env.filters["nairobi_day"](late) == "2026-12-07"
    assert templates.env.filters["nairobi_clock"](late) == "01:30:15 EAT"


async def test_the_audit_pages_days_are_nairobis(app):
    """An event at 22:30 UTC on the 6th happened at 01:30 on the 7th in Nairobi: it is shown so,
    found from the 7th, and not before the 7th."""
    from tests.radius.conftest import sql  # noqa: PLC0415

    tenant = await make_tenant()
    owner = await make_staff(tenant=tenant, role="owner")
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    await sql("INSERT INTO audit_event (tenant_id, actor, action, object_type, created_at) "
              "VALUES (:t, 'cli', 'zone.create', 'zone', '2026-12-06 22:30:00+00')",
              t=tenant.id)  # fmt: skip
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": owner.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        found = await client.get("/admin/audit?action=zone.create&since=2026-12-07", headers=host)
        assert found.status_code == 200 and "2026-12-07 01:30:00 EAT" in found.text
        before = await client.get("/admin/audit?action=zone.create&until=2026-12-07", headers=host)
        assert before.status_code == 200 and "01:30:00 EAT" not in before.text
