"""The API docs work on a network with no way out: /docs (Swagger UI) names only files we serve,
those files answer with the right type, and the page's policy allows exactly its own inline
script (by hash), never inline script in general nor another host. No ReDoc (it always loads its
logo from its vendor's CDN)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

ASSET = re.compile(r'(?:src|href)="([^"]+)"')
INLINE = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def script_sources(csp: str) -> list[str]:
    [directive] = [d.strip() for d in csp.split(";") if d.strip().startswith("script-src ")]
    return directive.split()[1:]


def sha256(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("path", ["/docs", "/docs/oauth2-redirect"])
async def test_the_pages_name_no_other_host(client, path):
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "http://" not in page.text and "https://" not in page.text, page.text
    for url in ASSET.findall(page.text):
        assert url.startswith("/docs/assets/"), url


@pytest.mark.parametrize(
    ("asset", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("favicon.png", "image/png"),
    ],
)
async def test_every_asset_the_page_names_is_served(client, asset, content_type):
    assert f'"/docs/assets/{asset}"' in (await client.get("/docs")).text
    response = await client.get(f"/docs/assets/{asset}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert len(response.content) > 1000


async def test_nothing_else_is_served_from_the_assets(client):
    for path in ("/docs/assets/nosuch.js", "/docs/assets/../openapi.py", "/docs/assets/"):
        assert (await client.get(path)).status_code == 404, path


async def test_swagger_ui_gets_its_one_inline_script_by_hash(client):
    page = await client.get("/docs")
    [script] = INLINE.findall(page.text)
    assert "SwaggerUIBundle(" in script and '"validatorUrl": null' in script
    sources = script_sources(page.headers["content-security-policy"])
    assert sources == ["'self'", sha256(script)]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_the_oauth2_redirect_page_gets_its_inline_script_by_hash(client):
    page = await client.get("/docs/oauth2-redirect")
    [script] = INLINE.findall(page.text)
    assert script_sources(page.headers["content-security-policy"]) == ["'self'", sha256(script)]


async def test_there_is_no_redoc(client):
    assert (await client.get("/redoc")).status_code == 404


async def test_the_openapi_document_still_loads(client):
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/auth/login" in document["paths"]
    # The docs are pages for people, not operations of the API.
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(document["paths"])
