"""The CPU-heavy half of a voucher sheet, run in a worker process (api.cpu): a QR code per card
and the page's HTML. Plain data in, a string out; it imports nothing of the app, so a worker
starts quickly and holds no database or Redis connection."""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import segno

TEMPLATES = Path(__file__).resolve().parents[2] / "portal" / "templates"


@dataclass(frozen=True)
class SheetPage:
    isp: str
    portal: str  # the ISP's portal URL; each QR opens <portal>/v/<code>
    cards: list[tuple[str, str, int]]  # code, package, price
    page: int
    pages: int
    total: int
    first: int  # 1-based number of this page's first card
    prev_url: str | None
    next_url: str | None


def qr_svg(url: str) -> str:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=3, border=1, xmldecl=False)
    return out.getvalue().decode()


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    # Autoescaping as Starlette's Jinja2Templates does for the rest of the portal.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    return env.get_template("sheet.html")


def render(sheet: SheetPage, compress: bool) -> bytes:
    """The page's HTML, gzipped here when the client takes it: compressing 0.6 MB on the API's
    event loop (its GZip middleware) would cost it what moving the QR codes out saved."""
    html = _html(sheet).encode()
    return gzip.compress(html, compresslevel=6) if compress else html


def _html(sheet: SheetPage) -> str:
    cards = [
        {"code": code, "package": package, "price": price, "qr": qr_svg(f"{sheet.portal}/v/{code}")}
        for code, package, price in sheet.cards
    ]
    return _template().render(sheet=sheet, cards=cards, isp=sheet.isp, portal=sheet.portal)
