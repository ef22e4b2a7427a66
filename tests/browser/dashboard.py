"""What the dashboard's browser tests share: an ISP's dashboard address as chromium reaches it,
watching a page for console errors and failed assets, and signing in (here, or in a browser of
its own for a second person)."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Page, expect

from api.config import get_settings
from tests.browser.conftest import API_PORT
from tests.factories import PASSWORD


def admin_url(slug: str, path: str = "/admin/") -> str:
    return f"http://{slug}.{get_settings().base_domain}:{API_PORT}{path}"


def watch_errors(page: Page) -> list[str]:
    """Console errors and failed assets of every page the test opens. A page itself answered
    with 4xx (a form re-shown with what to fix) is meant; chromium logs it as "Failed to load
    resource", so those lines are judged by the response instead: only assets count."""
    seen: list[str] = []
    page.on(
        "console",
        lambda m: (
            seen.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on(
        "response",
        lambda r: (
            seen.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    return seen


async def sign_in(page: Page, slug: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(admin_url(slug))
    await expect(page).to_have_url(re.compile(r"/admin/login$"))
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#sign-in")


async def signed_in_elsewhere(
    context: BrowserContext, slug: str, email: str, password: str = PASSWORD
) -> tuple[BrowserContext, Page]:
    """A second person in a browser of their own (no cookie shared), signed in; close it after."""
    other = await context.browser.new_context()  # type: ignore[union-attr]
    page = await other.new_page()
    await sign_in(page, slug, email, password)
    return other, page
