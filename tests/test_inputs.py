"""Input that used to end in a 500: NaN/Infinity, NUL characters, huge bodies; and 422s that
repeat only a little of what was sent, in the error schema the OpenAPI documents."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from api.config import get_settings
from tests.factories import make_user_headers
from tests.payshop import make_shop, shop_tenant
from tests.radius.conftest import sql

LOGIN = "/api/v1/auth/login"
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_422(client, literal):
    _, headers = await make_user_headers(client)
    body = '{"name": "p", "price": PRICE, "duration_seconds": 3600}'.replace("PRICE", literal)
    response = await client.post("/api/v1/plans", content=body, headers=headers | JSON)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert "finite" in response.json()["detail"][0]["msg"] or "large" in response.text


async def test_nan_where_a_float_is_accepted_is_422_not_500(client):
    # pydantic takes NaN for a float field, and FastAPI's 422 then failed to serialise it.
    response = await client.post(LOGIN, content=b'{"email": NaN}', headers=JSON)
    assert response.status_code == 422 and "NaN" in response.json()["detail"][0]["msg"]


async def test_nul_in_a_json_string_names_the_field(client):
    tenant, headers = await make_user_headers(client)
    body = {"name": "bad\u0000name", "price": 10, "duration_seconds": 3600}
    response = await client.post("/api/v1/plans", json=body, headers=headers)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"] and "NUL" in error["msg"]
    assert await sql("SELECT 1 FROM plan WHERE tenant_id = :t", t=tenant.id) == []


async def test_nul_in_a_nested_key_or_list(client):
    response = await client.post(LOGIN, json={"email": ["ok", "x\u0000"]})
    assert response.json()["detail"][0]["loc"] == ["body", "email", 1]
    response = await client.post(LOGIN, json={"e\u0000": 1})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "e"]


async def test_nul_in_query_and_path(client):
    shop = await make_shop()
    _, headers = await make_user_headers(client, tenant=await shop_tenant(shop))
    query = await client.get("/api/v1/vouchers?voucher=%00", headers=headers)
    assert query.status_code == 422 and query.json()["detail"][0]["loc"] == ["query", "voucher"]
    path = await client.get("/api/v1/vouchers/AB%00CD", headers=headers)
    assert path.status_code == 422 and path.json()["detail"][0]["loc"] == ["path"]
    portal = await client.get("/api/v1/portal/plans?lang=%00", headers=shop.host)
    assert portal.status_code == 422


async def test_nul_in_the_portal_form_gets_a_page(client):
    shop = await make_shop()
    response = await client.post(
        "/hotspotportal/login", data={"code": "ABC\u0000DEF", "dst": "x"}, headers=shop.host
    )
    assert response.status_code == 422 and response.headers["content-type"].startswith("text/html")
    assert "not allowed" in response.text
    page = await client.get("/hotspotportal?voucher=%00", headers=shop.host)
    assert page.status_code == 422 and "<html" in page.text


async def test_body_over_the_limit_is_413_by_content_length(client):
    limit = get_settings().max_body_bytes
    body = b'{"email": "' + b"a" * limit + b'"}'
    response = await client.post(LOGIN, content=body, headers=JSON)
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


async def test_chunked_body_over_the_limit_is_413_while_reading(client):
    limit = get_settings().max_body_bytes

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    response = await client.post(LOGIN, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text


async def test_chunked_logo_over_its_own_cap_is_still_413(client):
    _, headers = await make_user_headers(client)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(10):
            yield b"\0" * 8192

    response = await client.put("/api/v1/branding/logo", content=chunks(), headers=headers)
    assert response.status_code == 413 and "64 KB" in response.json()["detail"]


async def test_422_does_not_echo_big_input(client):
    body = {"email": "a" * 500_000, "password": "x" * 500_000}
    response = await client.post(LOGIN, json=body)
    assert response.status_code == 422
    assert len(response.content) < 2000, len(response.content)
    assert all(len(e.get("input", "")) <= 100 for e in response.json()["detail"])
    missing = await client.post(LOGIN, json={"password": "y" * 10_000})
    assert "y" * 200 not in missing.text  # the whole body is never the echoed "input"


async def test_openapi_documents_one_error_schema_for_both_shapes(client):
    schema = (await client.get("/openapi.json")).json()
    detail = schema["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]
    login = schema["paths"][LOGIN]["post"]["responses"]
    assert {"422", "4XX", "503"} <= set(login)
    # A domain 422 (a sentence) and a validation 422 (a list) both fit it.
    sentence = await client.post(LOGIN, json={"email": "a@example.com", "password": "x"})
    listed = await client.post(LOGIN, json={})
    assert isinstance(sentence.json()["detail"], str) and isinstance(listed.json()["detail"], list)
    assert json.dumps(schema)  # and the document itself is JSON


@pytest.mark.parametrize("depth", [5_000, 200_000])
async def test_json_nested_too_deeply_is_422(client, depth):
    body = b"[" * depth + b"]" * depth
    response = await client.post(LOGIN, content=body, headers=JSON)
    assert response.status_code in (413, 422), response.text
    if response.status_code == 422:
        assert response.json()["detail"][0]["type"] == "json_depth"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"Body": {"stkCallback": {"ResultDesc": "a\\u0000b"}}}', "NUL"),
        (b'{"Body": {"stkCallback": {"CheckoutRequestID": "ws\x00"}}}', "not JSON"),
        (b"[" * 20_000 + b"]" * 20_000, "nested too deeply"),
        (b'{"Body": {"stkCallback": {"ResultCode": NaN}}}', "NaN"),
    ],
)
async def test_daraja_hooks_store_bad_bodies_as_malformed_not_500(client, body, words):
    shop = await make_shop()
    response = await client.post(shop.hook(), content=body, headers=JSON)
    assert response.status_code == 400, response.text
    [event] = await sql("SELECT verdict, reason, body FROM payment_event WHERE tenant_id = :t",
                        t=shop.tenant_id)  # fmt: skip
    assert event["verdict"] == "malformed" and words in event["reason"], event["reason"]
    assert "\x00" not in event["body"]
