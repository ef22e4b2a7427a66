"""The dashboard's live figures (/admin/live, server-sent events) against the stack's real
uvicorn API, whose streams are real: a device coming online shows on an open dashboard without a
reload, each role sees only its figures, a signed-out person's stream ends, and one person holds
a bounded number of streams."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from api.config import get_settings
from tests.factories import (
    accounting,
    login,
    make_plan,
    make_router,
    make_staff,
    make_tenant,
    make_voucher,
)

Events = AsyncIterator[str]
API = os.environ.get("MNETIFI_API_URL", "")
pytestmark = pytest.mark.skipif(not API, reason="needs the stack's API (MNETIFI_API_URL)")
WAIT = get_settings().dashboard_live_every.total_seconds() * 2 + 5


async def _events(response: httpx.Response) -> AsyncIterator[str]:
    """Each `figures` event's HTML, as the browser's EventSource would hand it over."""
    name, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and name:
            yield "\n".join(data)
            name, data = None, []


@contextlib.asynccontextmanager
async def _live(
    headers: dict[str, str],
) -> AsyncIterator[tuple[httpx.Response, AsyncIterator[str]]]:
    async with httpx.AsyncClient(base_url=API, timeout=WAIT) as client:
        async with client.stream("GET", "/admin/live", headers=headers) as response:
            yield response, _events(response)


async def _signed_in(role: str = "owner"):
    tenant = await make_tenant()
    staff = await make_staff(tenant=tenant, role=role)
    async with httpx.AsyncClient(base_url=API) as client:
        auth = await login(client, tenant=tenant, staff=staff)
    return tenant, auth | {"host": f"{tenant.slug}.mnetifi.com"}


def _online(html: str) -> int:
    found = re.search(r'id="online-now">(\d+)<', html)
    assert found, html
    return int(found.group(1))


async def test_a_device_coming_online_shows_without_a_reload() -> None:
    tenant, headers = await _signed_in()
    router = await make_router(tenant=tenant)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    async with _live(headers) as (response, events):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = await anext(events)
        assert _online(first) == 0 and router.name in first
        await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                         username=voucher.code, unique=secrets.token_hex(4))  # fmt: skip
        changed = await asyncio.wait_for(anext(events), WAIT)
        assert _online(changed) == 1
        assert f"{router.name}: 1 online" in changed


async def test_a_swahili_browser_gets_its_figures_in_swahili() -> None:
    """The stream renders outside a page's TemplateResponse: its `_` comes from the stream's own
    request (the cookie here), the first event's and the later ones' alike."""
    tenant, headers = await _signed_in()
    router = await make_router(tenant=tenant)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant))
    async with _live(headers | {"cookie": "mnetifi_lang=sw"}) as (response, events):
        assert response.status_code == 200
        first = await anext(events)
        for swahili in ("Mtandaoni sasa", "Ruta kimya", "Leo", "malipo 0", "Mwezi huu", "Ruta"):
            assert swahili in first
        assert "Online now" not in first and "This month" not in first
        await accounting(kind="start", tenant_id=tenant.id, nas=str(router.ip_address),
                         username=voucher.code, unique=secrets.token_hex(4))  # fmt: skip
        changed = await asyncio.wait_for(anext(events), WAIT)
        assert _online(changed) == 1 and "Mtandaoni sasa" in changed
        assert f"{router.name}: 1 mtandaoni · " in changed and ">mtandaoni</span>" in changed
    async with _live(headers) as (_, events):  # no cookie, no Accept-Language: English
        english = await anext(events)
        assert "Online now" in english and f"{router.name}: 1 online" in english


@pytest.mark.parametrize(("role", "routers", "money"), [("tech", True, False),
                                                        ("support", False, True)])  # fmt: skip
async def test_each_role_sees_only_its_figures(role: str, routers: bool, money: bool) -> None:
    _, headers = await _signed_in(role)
    async with _live(headers) as (response, events):
        assert response.status_code == 200
        first = await anext(events)
        assert ('id="online-now"' in first) is routers
        assert ('id="today"' in first) is money


async def test_the_stream_ends_when_the_person_signs_out() -> None:
    _, headers = await _signed_in()
    async with _live(headers) as (_, events):
        await anext(events)
        async with httpx.AsyncClient(base_url=API) as client:
            out = await client.post("/api/v1/auth/logout", headers=headers)
            assert out.status_code in (200, 204), out.text

        # Nothing more, then the end of the stream (no figures for a signed-out person).
        async def drain() -> list[str]:
            return [html async for html in events]

        assert await asyncio.wait_for(drain(), WAIT) == []
    async with httpx.AsyncClient(base_url=API) as client:
        again = await client.get("/admin/live", headers=headers)
        assert again.status_code == 303 and again.headers["location"] == "/admin/login"


async def test_not_signed_in_or_another_isps_address_gets_no_stream() -> None:
    tenant, headers = await _signed_in()
    other = await make_tenant()
    async with httpx.AsyncClient(base_url=API) as client:
        anonymous = await client.get("/admin/live", headers={"host": headers["host"]})
        assert anonymous.status_code == 303
        elsewhere = await client.get(
            "/admin/live", headers=headers | {"host": f"{other.slug}.mnetifi.com"}
        )
        assert elsewhere.status_code == 403 and "event-stream" not in elsewhere.headers.get(
            "content-type", ""
        )


async def test_one_person_holds_a_bounded_number_of_streams() -> None:
    _, headers = await _signed_in()
    cap = get_settings().dashboard_streams_per_person
    held = []  # a stream whose reader is dropped gets closed (httpx closes it): keep them
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(cap):
            response, events = await stack.enter_async_context(_live(headers))
            assert response.status_code == 200
            await anext(events)
            held.append(events)
        async with httpx.AsyncClient(base_url=API) as client:
            refused = await client.get("/admin/live", headers=headers)
        assert refused.status_code == 429 and refused.headers.get("retry-after")
    # Every stream gave its slot back when it closed: a new one is let in.
    for _ in range(50):
        async with _live(headers) as (response, _events_):
            if response.status_code == 200:
                break
        await asyncio.sleep(0.1)
    assert response.status_code == 200
