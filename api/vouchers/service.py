"""Issuing vouchers. A voucher copies its plan's terms when issued, so later plan edits never
change what a customer already bought."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.errors import Conflict, NotFound
from api.models import Plan, Voucher
from api.plans import service as plans_service
from api.tenancy import Principal
from api.vouchers import repository
from api.vouchers.schemas import ALPHABET, BatchCreate, BatchOut, VoucherFilter

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
    session: AsyncSession, plan: Plan, batch_id: str, count: int, length: int
) -> list[str]:
    issued: list[str] = []
    for _ in range(MAX_ATTEMPTS):
        missing = count - len(issued)
        if missing == 0:
            break
        candidates = _draw(missing, length, set(issued))
        issued += await repository.insert_codes(session, plan, batch_id, candidates)
    if len(issued) < count:
        raise Conflict(f"Could not find {count} free codes of length {length}; use longer codes")
    return issued


async def generate_batch(
    session: AsyncSession, principal: Principal, data: BatchCreate, ip: str | None = None
) -> BatchOut:
    plan = await plans_service.get_plan(session, principal, data.plan_id)
    if not plan.active:
        raise Conflict(f"Plan {plan.name!r} is inactive; activate it before issuing vouchers")
    batch_id = str(uuid.uuid4())
    codes = await _insert_unique(session, plan, batch_id, data.count, data.length)
    # The codes are credentials: the log says how many, never which.
    details = {"plan_id": plan.id, "count": len(codes), "length": data.length}
    await audit.record(
        session, principal, "voucher.batch_create", "voucher_batch", batch_id, details, ip
    )
    return BatchOut(batch_id=uuid.UUID(batch_id), plan_id=plan.id, count=len(codes), codes=codes)


async def list_vouchers(
    session: AsyncSession, principal: Principal, query: VoucherFilter
) -> Sequence[Voucher]:
    return await repository.list_(session, principal.tenant_id, query)


async def get_voucher(session: AsyncSession, principal: Principal, code: str) -> Voucher:
    """Codes are stored upper-case; people type them in any case."""
    voucher = await repository.get_by_code(session, principal.tenant_id, code.strip().upper())
    if voucher is None:
        raise NotFound("Voucher not found")
    return voucher
