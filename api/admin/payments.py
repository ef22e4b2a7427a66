"""The payments page: money received, newest first, with the voucher (or extension) each one
bought, keyset pages; found by M-Pesa code or the payer's phone; "waiting" shows only money that
bought nothing yet, each with a way to resolve it (payments:resolve: a package of its price as a
new voucher or more time on a live one, with a reason, audited; api/payments/resolve.py); and
the money invariant for the ISP at the top (loaded after the page: /admin/payments/check)."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from api.admin.guard import require_page
from api.admin.web import Isp, acted, form_token, render, validated
from api.deps import ClientMeta, SessionDep
from api.errors import AppError
from api.models import Tenant
from api.payments import grants, ledger, queries, resolve
from api.payments.schemas import ResolveIn
from api.permissions import P
from api.phones import normalize_phone
from api.tenancy import Principal, allowed

router = APIRouter(prefix="/admin", include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page(P.PAYMENTS_READ))]
Resolver = Annotated[Principal, Depends(require_page(P.PAYMENTS_RESOLVE))]
PAGE = 50
RECEIPT = re.compile(r"[A-Za-z0-9]{6,20}")


def _wanted(find: str) -> dict[str, str]:
    """What the search box holds: a payer's phone or an M-Pesa code (or nothing)."""
    find = find.strip()
    if not find:
        return {}
    try:
        return {"phone": normalize_phone(find)}
    except ValueError:
        pass
    if RECEIPT.fullmatch(find):
        return {"receipt": find.upper()}
    raise ValueError("Search by an M-Pesa code (e.g. SKL4XYZ12A) or a phone number (07...)")


@router.get("/payments")
async def payments_page(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    return await _page(request, isp, principal, session)


async def _page(
    request: Request, isp: Tenant, principal: Principal, session: SessionDep, *,
    status: int = 200, error: str | None = None, typed: dict[str, Any] | None = None,
) -> HTMLResponse:  # fmt: skip
    params = request.query_params
    find, waiting = params.get("find", "")[:64], params.get("show") == "waiting"
    disputed = await queries.disputed(session, principal.tenant_id, PAGE)
    before_text = params.get("before", "")
    before = int(before_text) if before_text.isdigit() and len(before_text) < 19 else None
    try:
        wanted = _wanted(find.replace("\x00", ""))
    except ValueError as exc:
        wanted, status, error = {"receipt": ""}, 422, str(exc)
    listed = await queries.payments(
        session, principal.tenant_id, PAGE, before, waiting=waiting, **wanted
    )
    can_resolve = allowed(principal, P.PAYMENTS_RESOLVE)
    choices: dict[Any, list[Any]] = {}
    if can_resolve:  # the packages each waiting amount can buy
        for amount in {p["amount"] for p in listed if p["status"] in resolve.RESOLVABLE}:
            choices[amount] = await grants.plans_priced(session, principal.tenant_id, amount)
    older = None
    if len(listed) == PAGE:
        kept = {"find": find, "show": "waiting" if waiting else ""}
        older = urlencode({k: v for k, v in kept.items() if v} | {"before": listed[-1]["id"]})
    return render(
        request, "payments.html", isp, status=status, error=error, me=principal,
        csrf=await form_token(request), payments=listed, find=find, waiting=waiting,
        older=older,
        can_resolve=can_resolve, choices=choices, typed=typed or {}, disputed=disputed,
    )  # fmt: skip


@router.get("/payments/check")
async def money_check(
    request: Request, isp: Isp, principal: Reader, session: SessionDep
) -> Response:
    """The money invariant for the ISP (every payment granted once, every grant paid): loaded
    after the payments page, since it reads every payment the ISP ever had (about a second at
    200,000), and the list should not wait for it."""
    check = await ledger.check(session, principal.tenant_id)
    if request.headers.get("hx-request") == "true":
        return render(request, "money_check.html", isp, me=principal, check=check)
    return render(
        request, "payments_check.html", isp, me=principal, csrf=await form_token(request),
        check=check,
    )  # fmt: skip


@router.post("/payments/resolve")
async def resolve_payment(
    request: Request, isp: Isp, principal: Resolver, session: SessionDep, meta: ClientMeta,
    receipt: Annotated[str, Form(max_length=20)] = "",
    plan_id: Annotated[str, Form(max_length=12)] = "",
    voucher_code: Annotated[str, Form(max_length=16)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:  # fmt: skip
    typed = {"receipt": receipt, "plan_id": plan_id, "voucher_code": voucher_code,
             "phone": phone, "reason": reason}  # fmt: skip

    async def act() -> None:
        data = validated(ResolveIn, {k: v.strip() or None for k, v in typed.items()})
        await resolve.resolve(session, principal, data, meta)

    async def refused(exc: AppError) -> Response:
        return await _page(
            request, isp, principal, session, status=exc.status_code, error=exc.detail,
            typed=typed,
        )  # fmt: skip

    done = "/admin/payments?" + urlencode({"find": receipt.strip(), "flash": "resolved"})
    return await acted(session, act, refused, done)
