"""The notifications' SQL. Claiming new notifications reads every ISP's at once (the worker's
queue, listed in tests/test_layout.py's CROSS_TENANT); what one notification is about is read
within its ISP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Notification, Tenant
from api.tenancy import scoped, tenant_sql


async def claim_new(session: AsyncSession, limit: int) -> list[RowMapping]:
    """The oldest new notifications of every ISP, locked for this transaction; another worker
    skips them (and takes the next ones) instead of waiting."""
    result = await session.execute(
        text("""SELECT id, tenant_id, event, key, voucher_id, subscriber_id, details
                  FROM notification WHERE status = 'new'
                 ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"""),
        {"n": limit},
    )
    return list(result.mappings())


async def finish(session: AsyncSession, notification_id: int, status: str, outcome: str) -> None:
    await session.execute(
        text("""UPDATE notification SET status = :s, outcome = :o, processed_at = now(),
                       attempts = attempts + 1
                 WHERE id = :id"""),
        {"id": notification_id, "s": status, "o": outcome},
    )


async def voucher_facts(
    session: AsyncSession, tenant_id: int, voucher_id: int
) -> dict[str, Any] | None:
    """What a customer's message says about their voucher, as FreeRADIUS sees it now, and how
    their ISP speaks to them (the portal's name, language and support phone)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT v.code, v.phone, p.name AS package,
                      COALESCE(ps.display_name, t.name) AS isp,
                      COALESCE(ps.language, 'en') AS language, ps.support_phone AS support,
                      (voucher_state(v, t.unused_voucher_days)).*
                 FROM voucher v
                 JOIN tenant t ON t.id = v.tenant_id
                 JOIN plan p ON p.id = v.plan_id
                 LEFT JOIN portal_settings ps ON ps.tenant_id = v.tenant_id
                WHERE {tenant:v} AND v.id = :v""",
        ),
        {"v": voucher_id},
    )
    row = result.mappings().first()
    return dict(row) if row is not None else None


async def subscriber_facts(
    session: AsyncSession, tenant_id: int, subscriber_id: int
) -> dict[str, Any] | None:
    """What a reminder or dunning message says about a subscriber's bill now: the amount due is
    the plan's price less the balance already paid (as api/bills charges), the paybill is the
    ISP's M-Pesa business number when it takes paybill payments (the account is the username)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT s.name, s.username, s.phone, s.status, s.due_at, s.balance, p.name AS plan,
                      p.price, COALESCE(ps.display_name, t.name) AS isp,
                      COALESCE(ps.language, 'en') AS language, ps.support_phone AS support,
                      CASE WHEN m.account_type = 'paybill'
                           THEN COALESCE(m.c2b_shortcode, m.shortcode) END AS paybill
                 FROM subscriber s
                 JOIN tenant t ON t.id = s.tenant_id
                 JOIN subscriber_plan p ON p.id = s.plan_id
                 LEFT JOIN portal_settings ps ON ps.tenant_id = s.tenant_id
                 LEFT JOIN payment_settings m ON m.tenant_id = s.tenant_id
                WHERE {tenant:s} AND s.id = :s""",
        ),
        {"s": subscriber_id},
    )
    row = result.mappings().first()
    return dict(row) if row is not None else None


async def recent(
    session: AsyncSession, tenant_id: int, limit: int, before: int | None
) -> list[Notification]:
    stmt = scoped(Notification, tenant_id).order_by(Notification.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    return list((await session.scalars(stmt)).all())


async def limits(session: AsyncSession, tenant_id: int) -> RowMapping:
    """The ISP's message limits (settings)."""
    result = await session.execute(
        select(Tenant.message_daily_cap, Tenant.message_prefixes).where(Tenant.id == tenant_id)
    )
    return result.mappings().one()


async def sent_today(session: AsyncSession, tenant_id: int, recipient: str) -> int:
    """Messages to `recipient` from this ISP since midnight East Africa Time (any channel: SMS
    and WhatsApp share the number), but those skipped (never sent)."""
    return int(
        await session.scalar(
            tenant_sql(
                tenant_id,
                """SELECT count(*) FROM message
                    WHERE {tenant} AND recipient = :r AND status <> 'skipped'
                      AND created_at >= date_trunc('day', now() AT TIME ZONE 'Africa/Nairobi')
                                        AT TIME ZONE 'Africa/Nairobi'""",
            ),
            {"r": recipient},
        )
        or 0
    )


async def alerted_staff(session: AsyncSession, tenant_id: int) -> list[RowMapping]:
    """The ISP's active owners and admins, with the phone of their SMS second factor if they
    use one: whom staff alerts go to."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT s.id, s.email, f.phone
                 FROM staff_user s
                 LEFT JOIN second_factor f
                   ON f.staff_id = s.id AND f.tenant_id = s.tenant_id AND f.method = 'sms'
                WHERE {tenant:s} AND s.active AND s.role IN ('owner', 'admin') ORDER BY s.id""",
        )
    )
    return list(result.mappings())


async def isp_name(session: AsyncSession, tenant_id: int) -> str:
    result = await session.execute(select(Tenant.name).where(Tenant.id == tenant_id))
    return str(result.scalar_one())
