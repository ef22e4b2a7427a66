"""The stack's fakes of Meta's WhatsApp Cloud API and Africa's Talking WhatsApp answer as the
real services do (deploy/fakes/meta_whatsapp.py, at_whatsapp.py), so the clients are tested
against their wire formats, errors included; and our clients read those errors right."""

from __future__ import annotations

import httpx
import pytest

from api.config import get_settings
from api.messaging import at_whatsapp, meta
from api.messaging.wire import ProviderError

NUMBER = "100000000000001"
TOKEN = "demo-meta-access-token"


def graph() -> str:
    settings = get_settings()
    return f"{settings.meta_graph_url}/{settings.meta_graph_version}/{NUMBER}/messages"


async def test_meta_answers_a_template_send_with_a_wamid():
    body = meta.payload("+254712345678", "hello_world", "en", [])
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(graph(), json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    data = answer.json()
    assert data["messaging_product"] == "whatsapp"
    assert data["contacts"] == [{"input": "254712345678", "wa_id": "254712345678"}]
    assert data["messages"][0]["id"].startswith("wamid.")


@pytest.mark.parametrize(
    ("token", "body", "status", "code"),
    [
        ("wrong", meta.payload("+254712345678", "hello_world", "en", []), 401, 190),
        (
            TOKEN,
            {
                "messaging_product": "whatsapp",
                "to": "254712345678",
                "type": "text",
                "text": {"body": "hi"},
            },
            400,
            131047,
        ),  # fmt: skip
        (TOKEN, meta.payload("+254712345678", "nope", "en", []), 404, 132001),
        (TOKEN, meta.payload("+254700000011", "hello_world", "en", []), 400, 131026),
    ],
)
async def test_meta_errors_are_meta_s(token, body, status, code):
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(graph(), json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code and error["message"] and error["fbtrace_id"]


async def test_the_meta_client_tells_temporary_from_permanent():
    account = meta.Account(NUMBER, TOKEN, "hello_world", "en")
    settings = get_settings()
    async with httpx.AsyncClient(timeout=10) as http:
        args = (http, settings.meta_graph_url, settings.meta_graph_version, account)
        with pytest.raises(ProviderError) as down:
            await meta.send(*args, "+254700000015", None, [])
        with pytest.raises(ProviderError) as refused:
            await meta.send(*args, "+254700000011", None, [])
        wrong = meta.Account(NUMBER, "wrong", "hello_world", "en")
        with pytest.raises(ProviderError) as token:
            await meta.send(http, settings.meta_graph_url, settings.meta_graph_version, wrong,
                            "+254712345678", None, [])  # fmt: skip
    assert down.value.temporary and down.value.status == 500
    assert not refused.value.temporary and "131026" in str(refused.value)
    assert not token.value.temporary and "code 190" in str(token.value)
    assert TOKEN not in repr(account)


async def test_at_whatsapp_answers_and_refuses_as_documented():
    url = get_settings().at_whatsapp_url + "/whatsapp/message/send"
    body = {"username": "demo-isp", "waNumber": "+254709000000", "phoneNumber": "+254712345678",
            "body": {"message": "hi"}}  # fmt: skip
    async with httpx.AsyncClient(timeout=10) as http:
        ok = await http.post(url, json=body, headers={"apiKey": "demo-isp-api-key"})
        wrong = await http.post(url, json=body, headers={"apiKey": "nope"})
        missing = await http.post(url, json=body | {"body": {}},
                                  headers={"apiKey": "demo-isp-api-key"})  # fmt: skip
    assert ok.status_code == 201 and ok.json()["messageId"].startswith("ATWAid_")
    assert at_whatsapp.parse_answer(ok.json()).accepted
    assert wrong.status_code == 401 and wrong.headers["content-type"].startswith("text/plain")
    assert missing.status_code == 400 and missing.json()["errorMessage"]


async def test_the_at_whatsapp_client_reads_refusals():
    account = at_whatsapp.Account("demo-isp", "demo-isp-api-key", "+254709000000")
    base = get_settings().at_whatsapp_url
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(ProviderError) as refused:
            await at_whatsapp.send(http, base, account, "+254700000011", "hi")
        with pytest.raises(ProviderError) as down:
            await at_whatsapp.send(http, base, account, "+254700000015", "hi")
        with pytest.raises(ProviderError) as unreachable:
            await at_whatsapp.send(http, "http://127.0.0.1:9", account, "+254712345678", "hi")
    assert not refused.value.temporary and "InvalidPhoneNumber" in str(refused.value)
    assert down.value.temporary and unreachable.value.temporary
    assert "demo-isp-api-key" not in repr(account)
