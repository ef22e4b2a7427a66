"""Issuing vouchers. A voucher copies its plan's terms when issued, so later plan edits never
change what a customer already bought."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import Conflict, Forbidden, NotFound
from api.models import Plan, Voucher
from api.plans import service as plans_service
from api.tenancy import Principal, allowed
from api.vouchers import repository
from api.vouchers.schemas import (
    ALPHABET,
    BatchCreate,
    BatchOut,
    DeviceOut,
    RouterRef,
    VoucherDetail,
    VoucherExtend,
    VoucherFilter,
    VoucherOut,
    VoucherUpdate,
    search_terms,
)

# Each round only redraws the codes that collided; with 31^6+ codes per length, running out of
# rounds means the code space is nearly full, not bad luck.
MAX_ATTEMPTS = 10


def _random_code(length: int) -> str:
    """The one random source of codes (tests replace it to force collisions)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _draw(count: int, length: int, taken: set[str]) -> list[str]:
    drawn: set[str] = set()
    while len(drawn) < count:
        code = _random_code(length)
        if code not in taken:
            drawn.add(code)
    return list(drawn)


async def _insert_unique(
    session: AsyncSession,
    plan: Plan,
    batch_id: str,
    data: BatchCreate,
) -> list[str]:
    count, length = data.count, data.length
    issued: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        missing = count - len(issued)
        if missing == 0:
            break
        candidates = _draw(missing, length, set(issued))
        issued += await repository.insert_codes(
            session, plan, batch_id, candidates, device_limit=data.device_limit
        )
    if len(issued) < count:
        raise Conflict(f"Could not find {count} free codes of length {length}; use longer codes")
    return issued


async def generate_batch(
    session: AsyncSession, principal: Principal, data: BatchCreate, meta: audit.Meta = None
) -> BatchOut:
    if data.device_limit is not None and not allowed(principal, "vouchers:write"):
        raise Forbidden(f"Your role ({principal.role}) may not override the plan's device limit")
    plan = await plans_service.get_plan(session, principal, data.plan_id)
    if not plan.active:
        raise Conflict(f"Plan {plan.name!r} is inactive; activate it before issuing vouchers")
    batch_id = str(uuid.uuid4())
    codes = await _insert_unique(session, plan, batch_id, data)
    # The codes are credentials: the log says how many, never which.
    details = {"plan_id": plan.id, "count": len(codes), "length": data.length}
    if data.device_limit is not None:
        details["device_limit"] = data.device_limit
    await audit.record(
        session, principal, "voucher.batch_create", "voucher_batch", batch_id, details, meta
    )
    return BatchOut(batch_id=uuid.UUID(batch_id), plan_id=plan.id, count=len(codes), codes=codes)


async def list_vouchers(
    session: AsyncSession, principal: Principal, query: VoucherFilter
) -> Sequence[Voucher]:
    """Newest first, a keyset page after voucher `query.before`; with `query.q`, only the
    vouchers the search finds (search_terms: by code, the customer's phone or an M-Pesa
    receipt). A `before` that is no voucher of the ISP's is the end of the list."""
    tenant_id, after = principal.tenant_id, None
    if query.before is not None:
        after = await repository.cursor(session, tenant_id, query.before)
        if after is None:
            return []
    if query.q is not None:
        terms = search_terms(query.q)
        return await repository.search(session, tenant_id, terms, query, after)
    return await repository.list_(session, tenant_id, query, after)


async def get_voucher(session: AsyncSession, principal: Principal, code: str) -> Voucher:
    """Codes are stored upper-case; people type them in any case."""
    voucher = await repository.get_by_code(session, principal.tenant_id, code.strip().upper())
    if voucher is None:
        raise NotFound("Voucher not found")
    return voucher


async def get_detail(session: AsyncSession, principal: Principal, code: str) -> VoucherDetail:
    """The voucher, its state by voucher_state() (the SQL FreeRADIUS decides logins with) and
    the devices that used it."""
    found = await repository.get_with_state(session, principal.tenant_id, code.strip().upper())
    if found is None:
        raise NotFound("Voucher not found")
    voucher, state = found
    devices = [
        DeviceOut(
            mac=d["mac"],
            first_seen=d["first_seen"],
            router=RouterRef.of(d["router_id"], d["router_name"]),
        )
        for d in await repository.list_devices(session, principal.tenant_id, voucher.id)
    ]
    base = VoucherOut.model_validate(voucher).model_dump()
    return VoucherDetail.model_validate({**base, **state, "devices": devices})


async def revoke(
    session: AsyncSession, principal: Principal, code: str, meta: audit.Meta = None
) -> tuple[Voucher, bool]:
    """Idempotent: the voucher, and whether this call revoked it. FreeRADIUS reads the voucher
    on every login, so the next login is refused; disconnecting the devices online now is
    session control's part (api.sessions.control.revoke_voucher)."""
    voucher = await get_voucher(session, principal, code)
    before = voucher.status
    revoked = await repository.revoke(session, voucher)
    if revoked:
        # The code is a credential: the log names the voucher by id.
        await audit.changed(
            session,
            principal,
            "voucher.revoke",
            "voucher",
            voucher.id,
            {"status": before},
            {"status": "revoked"},
            meta,
        )
    return voucher, revoked


async def update_voucher(
    session: AsyncSession,
    principal: Principal,
    code: str,
    data: VoucherUpdate,
    meta: audit.Meta = None,
) -> VoucherDetail:
    """Changes one voucher's terms; FreeRADIUS applies them from the next login."""
    voucher = await get_voucher(session, principal, code)
    values = data.model_dump(exclude_unset=True)
    # Only the fields asked for: the voucher's code is a credential and stays out of the log.
    before = audit.snapshot(voucher, *values)
    await repository.update_voucher(session, voucher, values)
    after = audit.snapshot(voucher, *values)
    await audit.changed(
        session, principal, "voucher.update", "voucher", voucher.id, before, after, meta
    )
    return await get_detail(session, principal, voucher.code)


async def extend(
    session: AsyncSession, principal: Principal, code: str, data: VoucherExtend,
    meta: audit.Meta = None,
) -> Voucher:  # fmt: skip
    """Staff giving a live voucher more time (validity, end and time quota); audited with the
    reason. The sessions online now get the new Session-Timeout from session control."""
    voucher = await get_voucher(session, principal, code)
    changed = await repository.lengthen(
        session, principal.tenant_id, voucher.code, data.minutes * 60
    )
    if changed is None:
        raise Conflict("Only an unused or active voucher can be given more time")
    reason = " ".join(data.reason.split())
    await audit.changed(
        session, principal, "voucher.extend", "voucher", voucher.id,
        {"duration_seconds": changed["duration_before"],
         "time_quota_seconds": changed["time_quota_before"]},
        {"duration_seconds": changed["duration_after"],
         "time_quota_seconds": changed["time_quota_after"]},
        meta, details={"minutes": data.minutes, "reason": reason},
    )  # fmt: skip
    await session.refresh(voucher)
    return voucher


async def payments_of(session: AsyncSession, principal: Principal, voucher_id: int) -> list[Any]:
    """What bought or extended the voucher (payments:read is checked by the caller)."""
    return await repository.grants_of(session, principal.tenant_id, voucher_id)
