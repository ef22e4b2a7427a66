"""Security headers on every kind of answer: a portal page, JSON, an error, Swagger UI; HSTS only
in production or over https; no Server header, in-process or from the stack's uvicorn."""

from __future__ import annotations

import os

import httpx
import pytest

from api.config import get_settings
from tests.payshop import make_shop

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.url)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # test, over http


async def test_portal_page_gets_a_policy_without_inline_script(client):
    shop = await make_shop()
    page = await client.get("/hotspotportal", headers=shop.host)
    assert page.status_code == 200
    assert_common(page)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("script-src")[1][:30]
    # Every <script> of the page is a file of ours or a JSON data block (which does not run).
    for tag in page.text.split("<script")[1:]:
        assert 'src="/hotspotportal/static/' in tag or 'type="application/json"' in tag, tag


async def test_json_and_error_answers(client):
    shop = await make_shop()
    plans = await client.get("/api/v1/portal/plans", headers=shop.host)
    missing = await client.get("/api/v1/portal/plans", headers={"host": "nosuch.mnetifi.com"})
    unauthorised = await client.get("/api/v1/plans")
    invalid = await client.post("/api/v1/auth/login", json={})
    for response, status in ((plans, 200), (missing, 404), (unauthorised, 401), (invalid, 422)):
        assert response.status_code == status
        assert_common(response)
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_docs_keep_the_strict_policy(client):
    docs = await client.get("/docs")
    assert_common(docs)
    csp = docs.headers["content-security-policy"]
    # Swagger UI's one inline script is named by its hash (tests/test_docs.py); nothing else.
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "http" not in csp


async def test_hsts_over_https(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as secure:
        response = await secure.get("/api/v1/plans")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("MNETIFI_ENVIRONMENT", "production")
    monkeypatch.setenv("MNETIFI_SECRET_KEY", "p" * 40)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


async def test_hsts_in_production_even_behind_a_plain_http_proxy(client, production):
    response = await client.get("/api/v1/plans")
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_the_stack_api_sends_no_server_header():
    async with httpx.AsyncClient(base_url=os.environ["MNETIFI_API_URL"]) as live:
        response = await live.get("/api/v1/plans")
    assert response.status_code == 401
    assert "server" not in response.headers and response.headers["x-frame-options"] == "DENY"


async def test_dashboard_pages_refer_only_to_their_own_site_and_run_no_inline_script(client):
    """Under no-referrer a browser posts a form with "Origin: null", which the CSRF check must
    refuse: the dashboard's pages say same-origin (nothing leaves the site), the rest stays."""
    shop = await make_shop()
    page = await client.get("/admin/login", headers=shop.host)
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    for tag in page.text.split("<script")[1:]:
        assert 'src="/admin/static/' in tag, tag
    assert "csrf_token" in page.text and "mnetifi_login_csrf" in page.headers["set-cookie"]
    assert "samesite=strict" in page.headers["set-cookie"].lower()
