"""Browser tests: Debian's chromium, headless, driven by Playwright (async API) against the test
stack's API process, with the fake Daraja and a simulated MikroTik hotspot (radius/hotspot.py)
in front of the real FreeRADIUS. ISP subdomains resolve to loopback inside the browser
(--host-resolver-rules), so each ISP's portal is reached by its own host name.

Screenshots of the main screens go to artifacts/screenshots/ (CI keeps artifacts/)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    async_playwright,
    expect,
)

from api.config import get_settings
from radius.hotspot import HotspotSimulator, Phone, SimRouter
from tests.payshop import Shop, add_router, make_shop
from tests.radius.conftest import random_mac, router_addresses  # noqa: F401 (a fixture)

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by deploy/stack.sh for the tests
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
API_PORT = urlsplit(os.environ.get("MNETIFI_PUBLIC_URL", "http://127.0.0.1:18000")).port
# A phone's screen (CSS pixels), touch and the mobile viewport meta honoured.
PHONE = {"viewport": {"width": 390, "height": 800}, "is_mobile": True, "has_touch": True}

expect.set_options(timeout=10_000)


def portal_url(slug: str) -> str:
    """An ISP's portal as a phone reaches it: its own subdomain, the stack's API port."""
    return f"http://{slug}.{get_settings().base_domain}:{API_PORT}/hotspotportal"


async def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    return path


@pytest.fixture(scope="session")
async def playwright() -> AsyncIterator[Playwright]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: deploy/stack.sh test installs it"
    async with async_playwright() as playwright:
        yield playwright


async def launch(playwright: Playwright, *args: str) -> Browser:
    """Headless chromium in which every ISP subdomain is the stack's API on loopback."""
    rule = f"MAP *.{get_settings().base_domain} 127.0.0.1"
    return await playwright.chromium.launch(
        executable_path=CHROMIUM, args=[f"--host-resolver-rules={rule}", *args]
    )


@pytest.fixture(scope="session")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    browser = await launch(playwright)
    yield browser
    await browser.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A fresh phone per test: no cookies, storage, cache or service worker carried over."""
    context = await browser.new_context(**PHONE)
    context.set_default_timeout(10_000)
    # Chromium reports what the Content-Security-Policy blocked on the console: a page that
    # needs something the policy forbids fails its test here, whatever the test looked at.
    blocked: list[str] = []
    context.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield context
    await context.close()
    assert not blocked, blocked


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
async def shop() -> Shop:
    """An ISP selling one 20-shilling, one-hour package by M-Pesa (the fake Daraja)."""
    return await make_shop(name="Hour-" + secrets.token_hex(3))


@pytest.fixture
async def hotspot(shop: Shop, router_addresses) -> AsyncIterator[HotspotSimulator]:  # noqa: F811
    """The ISP's MikroTik (a router registered at a loopback address, its hotspot pages served
    there), with one phone behind it; CHAP on, as RouterOS's default login-by has it, and an
    Accounting Start after each login."""
    address, secret = next(router_addresses), secrets.token_urlsafe(18)
    await add_router(shop, address, secret)
    settings = get_settings()
    sim = HotspotSimulator(
        portal=portal_url(shop.slug),
        router=SimRouter(identity="hs-" + shop.slug, address=address, secret=secret),
        radius=(settings.radius_host, settings.radius_auth_port),
        acct_port=settings.radius_acct_port,
        phone=Phone(mac=random_mac(), ip="10.5.50.23"),
    )
    await asyncio.to_thread(sim.start)
    yield sim
    await asyncio.to_thread(sim.stop)
