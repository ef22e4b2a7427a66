"""The dashboard's live figures: who is online per router, silent routers, today's and this
month's money, sales by package, purchases waiting and payments that bought nothing, each as far
as the person's role may see. The home page shows them (home_live.html) and /admin/live streams
them again (server-sent events) whenever they change, so an owner's phone on the counter stays
current without a reload.

The money figures are shared by the ISP's open dashboards for `dashboard_live_every` (Redis).
The stream re-reads the figures every `dashboard_live_every` in a short transaction of its own
(no database connection is held between reads), and ends when the person's session ends or after
`dashboard_stream_lifetime`; the browser then reconnects, and the reconnection passes the page
guard like any page (a demoted or deactivated person's reconnection is refused)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from api import sse, staff_sessions
from api.admin import language
from api.admin.web import Person, current_isp, templates
from api.config import get_settings
from api.db import unit_of_work
from api.metrics import DASHBOARD_STREAMS
from api.payments import queries
from api.permissions import P
from api.routers import health as router_health
from api.security import get_redis
from api.tenancy import Principal, allowed, presented_session

router = APIRouter(prefix="/admin", include_in_schema=False)

HEARTBEAT = 15.0  # seconds: a comment line keeps proxies from closing a quiet stream
RETRY_MS = 5000  # how soon the browser reconnects after the stream ends

SLOTS = sse.Slots(
    total=lambda: get_settings().dashboard_streams_total,
    per_key=lambda: get_settings().dashboard_streams_per_person,
    gauge=DASHBOARD_STREAMS,
    full="Too many dashboards are open right now; the figures update on a reload",
    key_full="Your dashboard is open in too many tabs; close some",
)


async def figures(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    """What home_live.html shows: routers (routers:read) and money (payments:read), or None
    for what the role may not see."""
    routers = None
    if allowed(principal, P.ROUTERS_READ):
        routers = await router_health.list_health(session, principal)
    takings = None
    if allowed(principal, P.PAYMENTS_READ):
        takings = await _takings(session, principal.tenant_id)
    return {
        "routers": routers,
        "online": sum(r.active_sessions for r in routers or []),
        "silent": sum(1 for r in routers or [] if r.status == "silent"),
        "takings": takings,
    }


async def _takings(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    """The ISP's money figures, shared for MNETIFI_DASHBOARD_LIVE_EVERY by every open dashboard
    of the ISP (summing a big ISP's month takes a fifth of a second; ten open phones need not
    each pay it every few seconds). Redis down: read afresh."""
    key, redis = f"dashboard:takings:{tenant_id}", get_redis()
    try:
        cached = await redis.get(key)
    except RedisError:
        cached = None
    if cached:
        return dict(json.loads(cached))
    takings = await queries.takings(session, tenant_id)
    every = get_settings().dashboard_live_every.total_seconds()
    with contextlib.suppress(RedisError):
        await redis.set(key, json.dumps(takings, default=float), px=int(every * 1000))
    return takings


@router.get("/live", dependencies=[Depends(current_isp)])
async def live(request: Request, principal: Person) -> sse.SlotResponse:
    """`event: figures` with the figures' HTML (home_live.html) at once and whenever they
    change. 429 when the person or this process holds as many streams as allowed."""
    slot = SLOTS.acquire(f"{principal.tenant_id}:{principal.staff_id}")
    return sse.SlotResponse(slot, _stream(request, principal))


async def _render(principal: Principal, lang: str) -> str:
    """home_live.html outside a TemplateResponse: the context processor does not run here, so
    the stream passes the `_` and language it would have given (the stream request's)."""
    async with unit_of_work() as session:
        shown = await figures(session, principal)
    page = {"_": language.translator(lang), "lang": lang}
    return templates.get_template("home_live.html").render(shown | page)


async def _stream(request: Request, principal: Principal) -> AsyncIterator[str]:
    settings, loop = get_settings(), asyncio.get_running_loop()
    every = settings.dashboard_live_every.total_seconds()
    deadline = loop.time() + settings.dashboard_stream_lifetime.total_seconds()
    sid, _ = presented_session(request)
    lang = language.chosen(request)  # the cookie, else Accept-Language: as the page it updates
    sent = await _render(principal, lang)
    yield f"retry: {RETRY_MS}\n" + sse.event("figures", sent)
    beat = loop.time() + HEARTBEAT
    while loop.time() < deadline:
        await asyncio.sleep(every)
        if await request.is_disconnected() or not (sid and await staff_sessions.alive(sid)):
            return  # gone, or signed out (the reconnection goes through the page guard)
        latest = await _render(principal, lang)
        if latest != sent:
            sent = latest
            yield sse.event("figures", sent)
        elif loop.time() > beat:
            yield ": nothing new\n\n"
            beat = loop.time() + HEARTBEAT
