"""The dashboard's SMS and branding pages in process (tests/browser drives them for real): who may
open and change them, what a change stores and audits, bad input answered with a 4xx page that
says what to fix and changes nothing, and the portal preview's framing rules."""

from __future__ import annotations

import html
import re
import struct
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api import crypto
from api.models import AuditEvent, SmsMessage
from tests.factories import PASSWORD, count, make_staff, make_tenant
from tests.radius.conftest import sql
from tests.test_admin_pages import _form
from tests.test_sms import ISP, phone, received
from tests.test_staff_login import _from

SMS = "/admin/settings/sms"
BRANDING = "/admin/settings/branding"
PREVIEW = BRANDING + "/preview"
LOOK = {"display_name": "Kahawa WiFi", "primary_color": "#c2185b",
        "support_phone": "0712 345 678", "language": "sw"}  # fmt: skip


class Dashboard:
    """A signed-in person's browser, in process: pages on their ISP's address, forms posted
    with the token the page carried."""

    def __init__(self, client: httpx.AsyncClient, host: dict[str, str]) -> None:
        self.client, self.host = client, host

    async def get(self, path: str, **kw) -> httpx.Response:
        return await self.client.get(path, headers=self.host | kw.pop("headers", {}), **kw)

    async def post(self, path: str, data: dict | None = None, **kw) -> httpx.Response:
        page = await self.get("/admin/account")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text[:300]
        body = (data or {}) | {"csrf_token": token.group(1)}
        return await self.client.post(path, data=body, headers=self.host, **kw)


@asynccontextmanager
async def signed_in(app, tenant, role: str = "owner") -> AsyncIterator[Dashboard]:
    staff = await make_staff(tenant=tenant, role=role)
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    async with _from(app) as client:
        token = await _form(client, host)
        body = {"email": staff.email, "password": PASSWORD, "csrf_token": token}
        assert (await client.post("/admin/login", data=body, headers=host)).status_code == 303
        yield Dashboard(client, host)


async def _sms_row(tenant_id: int) -> dict | None:
    rows = await sql("SELECT * FROM sms_settings WHERE tenant_id = :t", t=tenant_id)
    return dict(rows[0]) if rows else None


async def _look(tenant_id: int) -> dict | None:
    rows = await sql(
        "SELECT display_name, primary_color, support_phone, language, logo IS NOT NULL AS logo"
        " FROM portal_settings WHERE tenant_id = :t",
        t=tenant_id,
    )
    return dict(rows[0]) if rows else None


def png(*, side: int = 1, size: int = 0, rgb: bytes = b"\xc2\x18\x5b") -> bytes:
    """A square PNG of one colour, `side` pixels wide, padded with a text chunk to about
    `size` bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pad = chunk(b"tEXt", b"c\x00" + b"x" * max(size - 80, 0)) if size else b""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress((b"\x00" + rgb * side) * side))
    return b"\x89PNG\r\n\x1a\n" + ihdr + pad + idat + chunk(b"IEND", b"")


# ------------------------------------------------------------------ who may


@pytest.mark.parametrize("role", ["support", "tech"])
async def test_support_and_tech_cannot_open_or_change_them(app, role):
    tenant = await make_tenant()
    async with signed_in(app, tenant, role) as me:
        for path in (SMS, BRANDING, PREVIEW):
            page = await me.get(path)
            assert page.status_code == 403 and "text/html" in page.headers["content-type"]
        for path, body in ((SMS, ISP), (SMS + "/test", {"to": phone()}), (BRANDING, LOOK)):
            assert (await me.post(path, body)).status_code == 403
    assert await _sms_row(tenant.id) is None and await _look(tenant.id) is None
    assert await count(SmsMessage, tenant_id=tenant.id) == 0


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_owners_and_admins_open_them_from_the_settings_page(app, role):
    tenant = await make_tenant()
    async with signed_in(app, tenant, role) as me:
        settings = await me.get("/admin/settings")
        assert f'href="{SMS}"' in settings.text and f'href="{BRANDING}"' in settings.text
        sms, branding = await me.get(SMS), await me.get(BRANDING)
        assert sms.status_code == branding.status_code == 200
        # Text through _() is escaped as any value is: the apostrophe comes as &#39;.
        assert "platform's account" in html.unescape(sms.text) and 'id="save-sms"' in sms.text
        assert 'id="save-branding"' in branding.text and 'id="preview-frame"' in branding.text


async def test_anonymous_is_sent_to_sign_in(app):
    tenant = await make_tenant()
    async with _from(app) as client:
        for path in (SMS, BRANDING, PREVIEW):
            page = await client.get(path, headers={"host": f"{tenant.slug}.mnetifi.com"})
            assert page.status_code == 303 and page.headers["location"] == "/admin/login"


# ------------------------------------------------------------------ SMS


async def test_the_sms_account_is_saved_write_only_and_audited(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        saved = await me.post(SMS, ISP)
        assert saved.status_code == 303 and saved.headers["location"] == f"{SMS}?flash=sms"
        row = await _sms_row(tenant.id)
        assert row and (row["username"], row["sender_id"]) == ("demo-isp", "DEMOISP")
        assert crypto.decrypt(row["api_key_enc"]) == ISP["api_key"]
        page = await me.get(saved.headers["location"])
        assert "The SMS account is saved" in page.text and "stored: leave empty" in page.text
        assert ISP["api_key"] not in page.text and "demo-isp" in page.text

        # An empty key keeps the stored one; an empty sender id is Africa's Talking's default.
        again = await me.post(SMS, {"username": "demo-isp", "sender_id": "", "api_key": ""})
        assert again.status_code == 303
        after = await _sms_row(tenant.id)
        assert after and after["api_key_enc"] == row["api_key_enc"] and after["sender_id"] is None

        removed = await me.post(SMS + "/remove")
        assert removed.status_code == 303 and await _sms_row(tenant.id) is None
    actions = await sql(
        "SELECT action, actor FROM audit_event WHERE tenant_id = :t AND action LIKE 'sms.%'"
        " ORDER BY id",
        t=tenant.id,
    )
    assert [a["action"] for a in actions] == [
        "sms.settings.create", "sms.settings.update", "sms.settings.delete",
    ]  # fmt: skip
    assert all("@" in a["actor"] for a in actions)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"username": "demo-isp", "api_key": ""}, "first save needs it"),
        (ISP | {"username": "has space"}, "letters, digits, _ . or -"),
        (ISP | {"sender_id": "MUCH-TOO-LONG-ID"}, "up to 11 letters"),
        (ISP | {"username": "x" * 65}, "letters, digits, _ . or -"),
    ],
)
async def test_bad_sms_input_is_a_4xx_page_that_says_what_to_fix(app, body, says):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        page = await me.post(SMS, body)
        assert 400 <= page.status_code < 500 and "text/html" in page.headers["content-type"]
        assert says in page.text
        assert f'value="{body["username"]}"' in page.text  # shown back; the key never
        assert ISP["api_key"] not in page.text
    assert await _sms_row(tenant.id) is None
    assert await count(AuditEvent, tenant_id=tenant.id, action="sms.settings.create") == 0


async def test_a_test_sms_goes_out_on_the_isps_account_and_is_audited(app):
    tenant = await make_tenant()
    to = phone()
    async with signed_in(app, tenant) as me:
        assert (await me.post(SMS, ISP)).status_code == 303
        page = await me.post(SMS + "/test", {"to": to})
        assert page.status_code == 200, page.text
        assert "Talking took the test message for " + to in page.text
        assert re.search(r' status">sent<', page.text)
    [sms] = await received(to)
    assert (sms["username"], sms["from"]) == ("demo-isp", "DEMOISP")
    assert "test message" in sms["message"]
    assert await count(AuditEvent, tenant_id=tenant.id, action="sms.settings.test") == 1


async def test_a_refused_test_sms_says_why(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        assert (await me.post(SMS, ISP | {"api_key": "not-the-key"})).status_code == 303
        page = await me.post(SMS + "/test", {"to": phone()})
        assert page.status_code == 422 and "refused the username or API key" in page.text


@pytest.mark.parametrize("to", ["0712345678", "", "+2547123456789012", "<b>7</b>"])
async def test_a_bad_test_number_sends_nothing(app, to):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        page = await me.post(SMS + "/test", {"to": to})
        assert page.status_code == 422 and "with its country code" in page.text
        assert "<b>7</b>" not in page.text
    assert await count(SmsMessage, tenant_id=tenant.id) == 0
    assert await count(AuditEvent, tenant_id=tenant.id, action="sms.settings.test") == 0


# ------------------------------------------------------------------ branding


async def test_the_look_is_saved_audited_and_shown_on_the_portal(app, client):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        saved = await me.post(BRANDING, LOOK)
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{BRANDING}?flash=branding"
    assert await _look(tenant.id) == {
        "display_name": "Kahawa WiFi", "primary_color": "#c2185b",
        "support_phone": "0712 345 678", "language": "sw", "logo": False,
    }  # fmt: skip
    [event] = await sql(
        "SELECT actor, changes FROM audit_event WHERE tenant_id = :t AND action = :a",
        t=tenant.id,
        a="branding.update",
    )
    assert "@" in event["actor"] and "primary_color" in str(event["changes"])
    portal = await client.get("/hotspotportal", headers={"host": f"{tenant.slug}.mnetifi.com"})
    assert "--brand:#c2185b" in portal.text and "Kahawa WiFi" in portal.text


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("primary_color", "red", "six hexadecimal digits"),
        ("primary_color", "#c2185b;}</style><script>alert(1)</script>", "six hexadecimal"),
        ("primary_color", "", "six hexadecimal digits"),
        ("display_name", "x" * 61, "at most 60 characters"),
        ("support_phone", "javascript:alert(1)", "support phone"),
        ("language", "fr", "English or Kiswahili"),
    ],
)
async def test_a_bad_look_is_a_4xx_page_with_what_was_typed_and_nothing_changes(
    app, field, value, says
):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        assert (await me.post(BRANDING, LOOK)).status_code == 303
        page = await me.post(BRANDING, LOOK | {field: value})
        assert page.status_code == 422 and "text/html" in page.headers["content-type"]
        assert says in page.text
        assert "<script>alert" not in page.text  # shown back escaped, never as markup
        if field != "language":
            typed = value.replace("<", "&lt;").replace(">", "&gt;")
            assert f'value="{typed}"' in page.text
    assert (await _look(tenant.id) or {}).get(field) == LOOK[field]


async def test_a_name_with_markup_is_text_on_the_portal(app, client):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        name = '<img src=x onerror="alert(1)">'
        assert (await me.post(BRANDING, LOOK | {"display_name": name})).status_code == 303
        preview = await me.get(PREVIEW, params=LOOK | {"display_name": name})
    portal = await client.get("/hotspotportal", headers={"host": f"{tenant.slug}.mnetifi.com"})
    for page in (portal, preview):
        assert "<img src=x" not in page.text and "&lt;img src=x" in page.text


# ------------------------------------------------------------------ the preview


async def test_the_preview_is_the_portal_page_with_the_typed_look_and_saves_nothing(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        preview = await me.get(PREVIEW, params=LOOK)
        assert preview.status_code == 200
        assert "--brand:#c2185b" in preview.text and "Kahawa WiFi" in preview.text
        assert "0712 345 678" in preview.text and 'lang="sw"' in preview.text
        assert 'id="packages"' in preview.text  # the portal's package page itself
        assert "<script" not in preview.text  # sandboxed: it runs nothing, so carries nothing
        english = await me.get(PREVIEW, params=LOOK | {"lang": "en"})
        assert 'lang="en"' in english.text
        bad = await me.get(PREVIEW, params=LOOK | {"primary_color": "javascript:alert(1)"})
        assert bad.status_code == 422
    assert await _look(tenant.id) is None


async def test_only_the_preview_may_be_framed_and_only_by_its_own_site(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        preview, page = await me.get(PREVIEW, params=LOOK), await me.get(BRANDING)
    csp = preview.headers["content-security-policy"]
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in csp and "script-src 'none'" in csp
    assert csp.endswith("; sandbox")  # no allow-*: no script, form, popup; an opaque origin
    assert preview.headers["cache-control"] == "no-store"
    # The page that frames it, like every other, is framed by nobody.
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    frame = re.search(r"<iframe[^>]*>", page.text)
    assert frame and " sandbox " in frame.group(0)  # the iframe is sandboxed as well


async def test_typing_asks_htmx_for_a_new_preview_frame(app):
    tenant = await make_tenant()
    async with signed_in(app, tenant) as me:
        htmx = {"hx-request": "true"}
        fragment = await me.get(BRANDING, params=LOOK, headers=htmx)
        assert fragment.status_code == 200 and "<html" not in fragment.text
        src = re.search(r'<iframe[^>]* src="([^"]+)"', fragment.text)
        assert src and src.group(1).startswith(PREVIEW + "?")
        query = parse_qs(urlsplit(src.group(1).replace("&amp;", "&")).query)
        assert query["primary_color"] == ["#c2185b"] and query["display_name"] == ["Kahawa WiFi"]
        # A value the portal cannot show: the saved look, and why.
        bad = await me.get(BRANDING, params=LOOK | {"primary_color": "#12"}, headers=htmx)
        assert "six hexadecimal digits" in bad.text and "primary_color=%230d6efd" in bad.text


# ------------------------------------------------------------------ the logo


async def test_a_logo_is_uploaded_audited_and_removed(app, client):
    tenant = await make_tenant()
    host = {"host": f"{tenant.slug}.mnetifi.com"}
    async with signed_in(app, tenant) as me:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await me.get(BRANDING)).text)
        assert token
        files = {"logo": ("logo.png", png(), "image/png")}
        saved = await me.client.post(
            BRANDING + "/logo", data={"csrf_token": token.group(1)}, files=files, headers=host
        )
        assert saved.status_code == 303, saved.text
        assert (await client.get("/hotspotportal/logo", headers=host)).content == png()
        assert 'id="logo-now"' in (await me.get(BRANDING)).text

        not_an_image = {"logo": ("logo.png", b"<svg onload=alert(1)>", "image/png")}
        too_big = {"logo": ("logo.png", png(size=70_000), "image/png")}
        for files, status, says in ((not_an_image, 422, "PNG, JPEG or WebP"),
                                    (too_big, 413, "at most 64 KB")):  # fmt: skip
            refused = await me.client.post(
                BRANDING + "/logo", data={"csrf_token": token.group(1)}, files=files, headers=host
            )
            assert refused.status_code == status and says in refused.text
        assert (await client.get("/hotspotportal/logo", headers=host)).content == png()

        assert (await me.post(BRANDING + "/logo/remove")).status_code == 303
        assert (await client.get("/hotspotportal/logo", headers=host)).status_code == 404
    actions = await sql(
        "SELECT action FROM audit_event WHERE tenant_id = :t AND action LIKE 'branding.%'",
        t=tenant.id,
    )
    assert sorted(a["action"] for a in actions) == ["branding.logo", "branding.logo_delete"]


async def test_each_isp_changes_only_its_own_look_and_account(app):
    a, b = await make_tenant(), await make_tenant()
    async with signed_in(app, a) as me:
        assert (await me.post(BRANDING, LOOK)).status_code == 303
        assert (await me.post(SMS, ISP)).status_code == 303
    async with signed_in(app, b) as other:
        page = await other.get(BRANDING)
        assert "Kahawa WiFi" not in page.text and "#c2185b" not in page.text
        assert "demo-isp" not in (await other.get(SMS)).text
    assert await _look(b.id) is None and await _sms_row(b.id) is None
