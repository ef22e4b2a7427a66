"""Repeated failed payments from one phone, decided as a staff alert (staff.failed_payments) in the
transaction that marks a push failed (settle.settle_failure: an STK callback, or STK Query when
the callback never came).

Pushes are counted, not callbacks: a replayed or repeated callback, or the query telling the
same result, fails the same push, which counts once. C2B has no such rule: a C2B confirmation
only ever reports money that arrived, never a failed attempt."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from api.notifications import decisions
from api.payments import wire
from api.sms.service import masked
from api.tenancy import tenant_sql

EVENT = "staff.failed_payments"
# FAILED_PAYMENTS pushes to one phone that M-Pesa answered with a failure (cancelled, wrong PIN,
# not enough money, unreachable...) within WINDOW. A customer retrying after a slip fails once or
# twice; three in an hour is someone who cannot pay and may need help, or prompts sent to a phone
# whose owner keeps refusing them (a prank, or someone pestering them through the portal).
FAILED_PAYMENTS = 3
WINDOW = timedelta(hours=1)
# Not the phone's doing: the ISP's own account is set up wrongly (every phone fails alike, and
# the error log says so), or M-Pesa never answered and we gave up.
NOT_THE_PHONES = [*sorted(wire.MISCONFIGURED), "no_answer"]
# One alert per ISP, phone and day, the day of the ISP's customers.
DAY_ZONE = ZoneInfo("Africa/Nairobi")

# The ix_stk_request_tenant_id_phone index reads the phone's pushes of the window; the result
# comes within minutes of its push.
_FAILURES = """
    SELECT count(*) FROM stk_request
     WHERE {tenant} AND phone = :phone AND status = 'failed'
       AND result_code <> ALL(CAST(:ignored AS text[]))
       AND created_at > now() - CAST(:window AS interval)"""


def is_the_phones(code: str) -> bool:
    """Whether a failure code counts toward the phone's alert."""
    return code not in NOT_THE_PHONES


async def failed_payment(session: AsyncSession, tenant_id: int, phone: str, result: str) -> bool:
    """After a push to `phone` (2547...) is marked failed, in that transaction: True if it made
    FAILED_PAYMENTS in the window and the phone's alert of the day was decided now. Never raises
    (decisions.guarded)."""

    async def decide() -> bool:
        failures = await session.scalar(
            tenant_sql(tenant_id, _FAILURES),
            {"phone": phone, "ignored": NOT_THE_PHONES, "window": WINDOW},
        )
        if (failures or 0) < FAILED_PAYMENTS:
            return False
        day = datetime.now(DAY_ZONE).date().isoformat()
        # The phone as the dashboard's message list shows recipients: enough to recognise.
        details = {"phone": masked("+" + phone), "failures": failures, "result": result[:160],
                   "minutes": int(WINDOW.total_seconds() // 60)}  # fmt: skip
        key = f"{EVENT}:{tenant_id}:{phone}:{day}"
        return await decisions.decide(session, tenant_id, EVENT, key, None, details)

    return await decisions.guarded(session, EVENT, decide)
