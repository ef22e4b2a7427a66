"""The subscribers pages: the list (search, zone with the zones below it, status, online now;
each row online or not, its last session, due date and state), a subscriber's page (details,
recent sessions, usage this month, suspend or resume after a confirmation, move to another
router or zone and change plan by choosing from lists, a new password shown once) and the add
and change form. A tech sees and changes only the subscribers of their zones (and routers):
anyone else's is a not-found page, as in the API."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.admin import subscriber_form
from api.admin.guard import require_page
from api.admin.subscriber_form import FormProblem
from api.admin.web import Isp, acted, form_token, render
from api.bills import service as bills
from api.db import roll_back
from api.deps import ClientMeta, IdPath, SessionDep
from api.errors import AppError
from api.models import Subscriber, Tenant
from api.permissions import P
from api.phones import phone_or_none
from api.routers import service as routers
from api.subscribers import catalogue, roster, service
from api.subscribers.schemas import SubscriberCreate, SubscriberUpdate
from api.tenancy import Principal, allowed
from api.zones import service as zones

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.SUBSCRIBERS_READ))]
Writer = Annotated[Principal, Depends(require_page(P.SUBSCRIBERS_WRITE))]
Field = Annotated[str, Form(max_length=200)]
OptionalField = Annotated[str | None, Form(max_length=200)]


async def zone_choices(session: SessionDep, principal: Principal) -> list[tuple[int, str]]:
    """The zones the principal sees, in tree order, each indented under its parent."""
    found = list(await zones.list_zones(session, principal))
    top = min((len(z.path) for z in found), default=1)
    return [(z.id, "\u00a0\u00a0" * (len(z.path) - top) + z.name) for z in found]


def _keeping(options: list[tuple[int, str]], current: int | None) -> list[tuple[int, str]]:
    """A list to choose from that still holds the subscriber's current choice (a tech may see
    a subscriber through a zone without its router, or through a router without its zone):
    leaving the list alone keeps it, nothing is cleared by accident."""
    if current is None or any(key == current for key, _ in options):
        return options
    return [*options, (current, f"#{current}")]


def _filters(request: Request) -> tuple[roster.Filters, dict[str, str], str | None]:
    """The list's query as Filters, as typed, and what to fix in it (None if fine)."""
    typed = {k: request.query_params.get(k, "").strip()[:100]
             for k in ("q", "zone", "status", "online", "before")}  # fmt: skip
    wanted = roster.Filters(q=typed["q"], online=typed["online"] == "1")
    if typed["status"] in ("active", "suspended"):
        wanted.status = typed["status"]
    elif typed["status"]:
        return wanted, typed, "Status: choose active or suspended"
    for key, attr in (("zone", "zone_id"), ("before", "before")):
        if typed[key]:
            if not typed[key].isdigit() or not 0 < int(typed[key]) < 2**62:
                return wanted, typed, f"{key}: a whole number from the list"
            setattr(wanted, attr, int(typed[key]))
    return wanted, typed, None


async def _listed(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep
) -> dict[str, Any]:
    wanted, typed, problem = _filters(request)
    rows: list[roster.Row] = []
    older = None
    if problem is None:
        rows, after = await roster.listing(session, principal, wanted)
        if after is not None:
            older = urlencode({k: v for k, v in typed.items() if v and k != "before"}
                              | {"before": after})  # fmt: skip
    grace = isp.subscriber_grace_days
    return {
        "rows": rows,
        "older": older,
        "problem": problem,
        "q": typed,
        "states": {r.subscriber.id: roster.state(r.subscriber, grace) for r in rows},
        "blocked": {r.subscriber.id for r in rows if roster.blocked_until(r.subscriber)},
    }


@router.get("/subscribers")
async def subscribers_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    """Newest first in keyset pages; an htmx request (the search as one types) gets only the
    results."""
    listed = await _listed(request, isp, principal, session)
    if request.headers.get("hx-request") == "true":
        return render(request, "subscriber_results.html", isp, me=principal, **listed)
    return render(
        request, "subscribers.html", isp, status=422 if listed["problem"] else 200,
        me=principal, zones=await zone_choices(session, principal),
        can_write=allowed(principal, P.SUBSCRIBERS_WRITE), **listed,
    )  # fmt: skip


# ------------------------------------------------------------------ add and change


async def _form_page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    subscriber: Subscriber | None = None, form: dict[str, str] | None = None,
    error: AppError | None = None,
) -> HTMLResponse:  # fmt: skip
    plans = await catalogue.list_plans(session, principal)
    choices = await zone_choices(session, principal)
    default_zone = choices[0][0] if principal.allocated_only and choices else None
    return render(
        request, "subscriber_form.html", isp, status=error.status_code if error else 200,
        me=principal, csrf=await form_token(request),
        subscriber=subscriber, form=form or subscriber_form.typed(subscriber, default_zone),
        wrong=subscriber_form.field_of(error) if error else None,
        zones=_keeping(choices, subscriber.zone_id if subscriber else None),
        problem=error.detail if error else None,
        router_options=_keeping(
            [(r.id, r.name) for r in await routers.list_routers(session, principal)],
            subscriber.router_id if subscriber else None,
        ),
        plan_options=[(p.id, f"{p.name} · KES {p.price:,}") for p in plans
                      if p.active or (subscriber and p.id == subscriber.plan_id)],
    )  # fmt: skip


def _typed(form: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if k != "password"}  # never shown back


@router.get("/subscribers/new")
async def new_subscriber(
    request: Request, isp: Isp, principal: Writer, session: SessionDep
) -> Response:
    return await _form_page(request, isp, principal, session)


@router.post("/subscribers")
async def create_subscriber(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
) -> Response:  # fmt: skip
    """The new subscriber's page, with its password once when it was generated."""
    form = await _posted(request)
    try:
        try:
            body = SubscriberCreate.model_validate(subscriber_form.values(form, editing=False))
        except ValidationError as exc:
            raise subscriber_form.problem(exc) from None
        created, generated = await service.create_subscriber(session, principal, body, meta)
    except AppError as exc:
        await roll_back(session)
        return await _form_page(request, isp, principal, session, form=_typed(form), error=exc)
    return await _detail(request, isp, principal, session, created, status=201,
                         password=generated, flash="added")  # fmt: skip


async def _posted(request: Request) -> dict[str, str]:
    """The form's fields that were sent (a change leaves the others as they are)."""
    data = await request.form()
    return {k: str(data[k])[:200] for k in subscriber_form.FIELDS if k in data}


@router.get("/subscribers/{subscriber_id}/edit")
async def edit_subscriber(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, subscriber_id: IdPath
) -> Response:
    found = await service.get_subscriber(session, principal, subscriber_id)
    return await _form_page(request, isp, principal, session, subscriber=found)


@router.post("/subscribers/{subscriber_id}")
async def update_subscriber(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath,
) -> Response:  # fmt: skip
    found = await service.get_subscriber(session, principal, subscriber_id)  # 404 first
    form = await _posted(request)
    try:
        try:
            body = SubscriberUpdate.model_validate(subscriber_form.values(form, editing=True))
        except ValidationError as exc:
            raise subscriber_form.problem(exc) from None
        await service.update_subscriber(session, principal, subscriber_id, body, meta)
    except AppError as exc:
        await roll_back(session)
        found = await service.get_subscriber(session, principal, subscriber_id)
        return await _form_page(request, isp, principal, session, subscriber=found,
                                form=_typed(form), error=exc)  # fmt: skip
    return RedirectResponse(f"/admin/subscribers/{found.id}?flash=subscriber-saved", 303)


# ------------------------------------------------------------------ one subscriber


async def _detail(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep,
    subscriber: Subscriber, *, status: int = 200, error: str | None = None,
    password: str | None = None, flash: str | None = None,
) -> HTMLResponse:  # fmt: skip
    can_write = allowed(principal, P.SUBSCRIBERS_WRITE)
    plans = {p.id: p for p in await catalogue.list_plans(session, principal)}
    zone_list = await zone_choices(session, principal)
    router_list = await routers.list_routers(session, principal)
    grace = isp.subscriber_grace_days
    return render(
        request, "subscriber.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), s=subscriber, plan=plans.get(subscriber.plan_id),
        plans=[p for p in plans.values() if p.active or p.id == subscriber.plan_id],
        zones=_keeping(zone_list, subscriber.zone_id),
        zone_names={z: n.strip() for z, n in zone_list},
        routers=_keeping([(r.id, r.name) for r in router_list], subscriber.router_id),
        router_names={r.id: r.name for r in router_list},
        state=roster.state(subscriber, grace), can_write=can_write, new_password=password,
        blocked_until=roster.blocked_until(subscriber),
        added=flash == "added", **await roster.activity(session, principal, subscriber),
        payments=await bills.payments(session, principal, subscriber.id),
    )  # fmt: skip


@router.get("/subscribers/{subscriber_id}")
async def subscriber_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep, subscriber_id: IdPath
) -> Response:
    found = await service.get_subscriber(session, principal, subscriber_id)
    return await _detail(request, isp, principal, session, found)


async def _act(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep,
    subscriber_id: int, action: Any, flash: str,
) -> Response:  # fmt: skip
    """A change on the subscriber's page; refused, the page again with why."""
    await service.get_subscriber(session, principal, subscriber_id)  # not theirs: 404 first

    async def again(exc: AppError) -> Response:
        found = await service.get_subscriber(session, principal, subscriber_id)
        return await _detail(request, isp, principal, session, found, status=exc.status_code,
                             error=exc.detail)  # fmt: skip

    return await acted(session, action, again, f"/admin/subscribers/{subscriber_id}?flash={flash}")


@router.post("/subscribers/{subscriber_id}/bill")
async def send_bill(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath, phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    """An M-Pesa prompt for what the subscriber owes, to their phone (or the one typed);
    audited as subscriber.bill_push. Their payment renews them (api/subscribers/billing.py)."""

    async def send() -> None:
        number = None
        if phone.strip():
            number = phone_or_none(phone)
            if number is None:
                raise FormProblem("phone", "Phone: a Kenyan mobile number such as 0712 345 678")
        await bills.staff_push(session, principal, subscriber_id, number, None, meta)

    return await _act(request, isp, principal, session, subscriber_id, send, "bill-sent")


@router.post("/subscribers/{subscriber_id}/status")
async def suspend_or_resume(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath, status: Annotated[str, Form(max_length=20)] = "",
) -> Response:  # fmt: skip
    """Audited as subscriber.suspend or subscriber.resume; the page asks first."""

    async def switch() -> None:
        if status not in ("active", "suspended"):
            raise FormProblem("status", "Choose suspend or resume")
        await roster.change(session, principal, subscriber_id, {"status": status}, meta)

    flash = "suspended" if status == "suspended" else "resumed"
    return await _act(request, isp, principal, session, subscriber_id, switch, flash)


@router.post("/subscribers/{subscriber_id}/unblock")
async def unblock(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath,
) -> Response:  # fmt: skip
    """Ends a block for too many wrong passwords; audited as subscriber.unblock."""

    async def clear() -> None:
        await service.unblock_subscriber(session, principal, subscriber_id, meta)

    return await _act(request, isp, principal, session, subscriber_id, clear, "unblocked")


@router.post("/subscribers/{subscriber_id}/move")
async def move_subscriber(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath, router_id: OptionalField = None, zone_id: OptionalField = None,
) -> Response:  # fmt: skip
    """Where to: the router and the zone chosen from lists (one left out stays as it is)."""

    async def move() -> None:
        sent = {k: v for k, v in (("router_id", router_id), ("zone_id", zone_id)) if v is not None}
        if not sent:
            raise FormProblem("form", "Choose the router or zone to move the subscriber to")
        picked = subscriber_form.values(sent, editing=True)
        await roster.move(session, principal, subscriber_id, picked, meta)

    return await _act(request, isp, principal, session, subscriber_id, move, "moved")


@router.post("/subscribers/{subscriber_id}/plan")
async def change_plan(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath, plan_id: Field = "",
) -> Response:  # fmt: skip
    async def switch() -> None:
        picked = subscriber_form.values({"plan_id": plan_id}, editing=True)["plan_id"]
        if picked is None:
            raise FormProblem("plan_id", "Choose a monthly plan")
        await roster.change(session, principal, subscriber_id, {"plan_id": picked}, meta)

    return await _act(request, isp, principal, session, subscriber_id, switch, "plan-changed")


@router.post("/subscribers/{subscriber_id}/password")
async def reset_password(
    request: Request, isp: Isp, principal: Writer, session: SessionDep, meta: ClientMeta,
    subscriber_id: IdPath,
) -> Response:  # fmt: skip
    """A generated password, shown in this answer only (a reload does not show it again)."""
    changed, password = await roster.new_password(session, principal, subscriber_id, meta)
    return await _detail(request, isp, principal, session, changed, password=password)
