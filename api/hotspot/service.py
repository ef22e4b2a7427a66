"""The portal's rules: which ISP a request is for, what a voucher's holder may see, what a logo
may be, and how a voucher sheet is cut into pages. SQL is in repository.py."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import URL

from api import audit, config, limits
from api.db import unit_of_work
from api.errors import AppError, BadRequest, NotFound
from api.hotspot import repository
from api.hotspot.schemas import BrandingIn, Isp
from api.hotspot.sheet_render import SheetPage
from api.notifications.repository_scoped import active_for_portal as active_outages
from api.tenancy import Principal, portal_url
from api.tenants import repository as tenants_repository
from api.vouchers import repository as vouchers

MAX_LOGO = 64 * 1024
# What a logo file starts with, per type: the bytes decide, not the client's Content-Type.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
}
CARDS_PER_PAGE = 300  # 20 A4 sheets of 3 x 5 cards; about 0.6 MB of HTML


class PayloadTooLarge(AppError):
    status_code = 413
    default_detail = "Too large"


# ---------------------------------------------------------------- the portal's side


async def isp_for(slug: str | None) -> Isp | None:
    """The active ISP whose portal lives at `slug`.<base_domain>, with its branding."""
    if slug is None:
        return None
    async with unit_of_work() as session:
        row = await tenants_repository.portal_isp(session, slug)
    return Isp(**row) if row is not None else None


async def public_status(tenant_id: int, code: str, caller: limits.Caller) -> dict[str, Any]:
    """What the portal may show about a voucher to whoever holds its code: its state, what is
    left, its package and how many devices use it now. Unknown codes count against the phone
    and its address (voucher guessing), like wrong M-Pesa codes on claims."""
    limit = config.get_settings().claim_max_failures * 2
    message = "Too many wrong voucher codes; wait and try again"
    await limits.attempt("voucher", tenant_id, caller, limit, message)
    async with unit_of_work() as session:
        row = await repository.voucher_for_holder(session, tenant_id, code)
    if row is None:  # a guess: the attempt stays counted
        raise NotFound("No such voucher. Check the code and try again.")
    await limits.succeeded("voucher", tenant_id, caller)
    out = {k: row[k] for k in ("code", "package", "state", "reason", "seconds_left", "bytes_left",
                               "usable_until", "device_limit", "devices_online")}  # fmt: skip
    out["reason"] = out["reason"] or None
    out["notices"] = _notices(row)
    return out


def _notices(row: RowMapping) -> list[dict[str, Any]]:
    """What the online page shows live above the countdown: the voucher's own usage once it
    crossed the ISP's warning threshold (the moment its SMS is decided), and the outages of its
    network. The page words them in the customer's language (portal.js)."""
    found: list[dict[str, Any]] = []
    if row["warn_percent"]:
        for resource in ("data", "time"):
            if row[f"{resource}_warned"]:
                found.append({"kind": "usage", "resource": resource,
                              "percent": row["warn_percent"]})  # fmt: skip
    found += [{"kind": "outage", "text": text} for text in row["outages"]]
    return found


async def notices(tenant_id: int, identity: str | None) -> list[str]:
    """Outages going on now that the portal shows: the ISP's, and the router's the phone is
    behind (its RouterOS identity, from the hotspot's redirect)."""
    async with unit_of_work() as session:
        return await active_outages(session, tenant_id, identity or None)


async def logo(tenant_id: int) -> tuple[bytes, str] | None:
    async with unit_of_work() as session:
        return await repository.logo(session, tenant_id)


# ---------------------------------------------------------------- staff: branding


async def branding(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    return await repository.branding(session, tenant_id)


async def update_branding(
    session: AsyncSession, principal: Principal, body: BrandingIn, meta: audit.Meta
) -> dict[str, Any]:
    before = await repository.branding(session, principal.tenant_id)
    await repository.save_branding(session, principal.tenant_id, body)
    after = await repository.branding(session, principal.tenant_id)
    await audit.changed(
        session, principal, "branding.update", "tenant", principal.tenant_id, before, after, meta
    )
    return after


def logo_type(data: bytes) -> str:
    """The image type of a logo, judged by its bytes (PNG, JPEG or WebP), or BadRequest."""
    kind = next((k for k, magic in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None or (kind == "image/webp" and data[8:12] != b"WEBP"):
        raise BadRequest("The logo must be a PNG, JPEG or WebP image")
    return kind


async def set_logo(
    session: AsyncSession, principal: Principal, data: bytes, meta: audit.Meta
) -> dict[str, Any]:
    kind = logo_type(data)
    await repository.save_logo(session, principal.tenant_id, data, kind)
    details = {"bytes": len(data), "type": kind}
    await audit.record(
        session, principal, "branding.logo", "tenant", principal.tenant_id, details, meta
    )
    return await repository.branding(session, principal.tenant_id)


async def remove_logo(session: AsyncSession, principal: Principal, meta: audit.Meta) -> None:
    await repository.delete_logo(session, principal.tenant_id)
    await audit.record(
        session, principal, "branding.logo_delete", "tenant", principal.tenant_id, None, meta
    )


# ---------------------------------------------------------------- staff: voucher sheets


def _page_url(url: URL, page: int, pages: int) -> str | None:
    return str(url.include_query_params(page=page)) if 1 <= page <= pages else None


async def sheet_page(
    session: AsyncSession,
    principal: Principal,
    batch_id: str,
    page: int,
    url: URL,
    meta: audit.Meta = None,
) -> SheetPage:
    """Page `page` of a batch's sheet (CARDS_PER_PAGE cards), linked to its neighbours by
    `url` with another ?page=; NotFound for an unknown batch or a page past the last. The
    cards are the codes themselves, so every page served is an export in the audit log."""
    tenant_id = principal.tenant_id
    head = await vouchers.batch_head(session, tenant_id, batch_id)
    if not head["n"]:
        raise NotFound("No such batch")
    total, pages = int(head["n"]), math.ceil(head["n"] / CARDS_PER_PAGE)
    if page > pages:
        raise NotFound(f"This batch has {pages} sheet pages")
    await audit.record(
        session, principal, "voucher.sheet_export", "voucher_batch", batch_id,
        {"page": page, "pages": pages}, meta,
    )  # fmt: skip
    return SheetPage(
        isp=head["isp"],
        portal=portal_url(head["slug"], url.scheme),
        cards=await vouchers.batch_cards(
            session, tenant_id, batch_id, CARDS_PER_PAGE, (page - 1) * CARDS_PER_PAGE
        ),
        page=page,
        pages=pages,
        total=total,
        first=(page - 1) * CARDS_PER_PAGE + 1,
        prev_url=_page_url(url, page - 1, pages),
        next_url=_page_url(url, page + 1, pages),
    )
