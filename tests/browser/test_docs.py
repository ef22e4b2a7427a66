"""The API docs in a browser that can reach the test stack and nothing else (an ISP's LAN with no
way out): Swagger UI lists the operations and opens one, with no console error (a CSP violation
is one), no uncaught exception and no request to another host, on a phone's screen and a desk's.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from tests.browser.conftest import PHONE, screenshot

STACK = os.environ.get("MNETIFI_PUBLIC_URL", "http://127.0.0.1:18000")
SCREENS = {"390": PHONE, "1280": {"viewport": {"width": 1280, "height": 900}}}


class Offline:
    """A browser context whose requests to any host but the stack's are aborted and noted, with
    the console's errors and the page's uncaught exceptions."""

    def __init__(self) -> None:
        self.elsewhere: list[str] = []
        self.errors: list[str] = []

    async def route(self, route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(STACK).netloc:
            await route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    async def open(self, context: BrowserContext, path: str) -> Page:
        await context.route("**/*", self.route)
        page = await context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        await page.goto(STACK + path)
        return page


@pytest.fixture(params=sorted(SCREENS))
async def screen(request, browser: Browser) -> AsyncIterator[tuple[str, BrowserContext]]:
    context = await browser.new_context(**SCREENS[request.param])
    context.set_default_timeout(10_000)
    yield request.param, context
    await context.close()


async def test_swagger_ui_lists_the_operations_offline(screen):
    width, context = screen
    offline = Offline()
    page = await offline.open(context, "/docs")
    login = page.locator('.opblock-summary-path[data-path="/api/v1/auth/login"]')
    await expect(login).to_be_visible()
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("mnetifi")
    assert await page.locator(".opblock").count() >= 70
    # An operation opens with its parameters and responses, all from our own document.
    await login.click()
    await expect(page.locator(".opblock.is-open .responses-wrapper")).to_be_visible()
    await screenshot(page, f"docs-swagger-{width}")
    assert offline.elsewhere == []
    assert offline.errors == []
