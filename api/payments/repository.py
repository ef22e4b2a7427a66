"""The SQL of the money path: an ISP's M-Pesa account, its purchases (stk_request) and the
payments they and C2B bring (payment); every callback as it arrived (payment_event) is in
events_repository.py.

Every query starts from `tenant_sql()` or `scoped()`, the updates of a row the caller locked
by its id too: the tenant condition costs nothing there and keeps another ISP's id out.
Nothing here commits: the caller's unit of work holds the payment, its grant and the status
change in one transaction, and the locks are taken in the order the callers ask for them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import PaymentSettings
from api.tenancy import scoped, tenant_sql

# ------------------------------------------------------------------ the ISP and its account


async def settings_row(session: AsyncSession, tenant_id: int) -> PaymentSettings | None:
    return await session.scalar(scoped(PaymentSettings, tenant_id))


async def db_now(session: AsyncSession) -> datetime:
    return await session.scalar(text("SELECT now()"))  # type: ignore[return-value]


async def plans_on_sale(session: AsyncSession, tenant_id: int) -> list[dict[str, Any]]:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT p.id, p.name, p.price, COALESCE(s.currency, 'KES') AS currency,
                   p.duration_seconds, p.time_quota_seconds, p.data_quota_bytes,
                   p.upload_kbps, p.download_kbps, p.device_limit
              FROM plan p LEFT JOIN payment_settings s ON s.tenant_id = p.tenant_id
             WHERE {tenant:p} AND p.active AND p.price > 0
             ORDER BY p.price, p.id""",
        )
    )
    return [dict(row) for row in result.mappings()]


async def voucher_exists(session: AsyncSession, tenant_id: int, code: str) -> bool:
    found = await session.scalar(
        tenant_sql(tenant_id, "SELECT 1 FROM voucher WHERE {tenant} AND code = :c"), {"c": code}
    )
    return bool(found)


async def voucher_by_code(session: AsyncSession, tenant_id: int, code: str) -> RowMapping | None:
    """The voucher and its state, unlocked (grants.live_voucher locks)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT v.id, v.code, v.plan_id, (voucher_state(v, t.unused_voucher_days)).state
                 FROM voucher v JOIN tenant t ON t.id = v.tenant_id
                WHERE {tenant:v} AND v.code = :c""",
        ),
        {"c": code},
    )
    return result.mappings().first()


# ------------------------------------------------------------------ purchases (stk_request)


async def lock_request(
    session: AsyncSession, tenant_id: int, *, checkout_id: str | None = None,
    reference: str | None = None, request_id: int | None = None,
) -> RowMapping | None:  # fmt: skip
    key: object
    if checkout_id is not None:
        where, key = "checkout_request_id = :key", checkout_id
    elif reference is not None:
        where, key = "reference = :key", reference
    else:
        where, key = "id = :key", request_id
    result = await session.execute(
        tenant_sql(
            tenant_id,
            f"SELECT * FROM stk_request WHERE {{tenant}} AND {where} FOR UPDATE",  # noqa: S608
        ),
        {"key": key},
    )
    return result.mappings().first()


async def request_by_reference(
    session: AsyncSession, tenant_id: int, reference: str
) -> RowMapping | None:
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT * FROM stk_request WHERE {tenant} AND reference = :r"),
        {"r": reference},
    )
    return result.mappings().first()


async def open_push(
    session: AsyncSession, tenant_id: int, phone: str, window: timedelta
) -> RowMapping | None:
    """The phone's newest pending push within the debounce window."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT public_id, plan_id, voucher_id, amount FROM stk_request
                WHERE {tenant} AND phone = :phone AND status = 'pending'
                  AND created_at > now() - CAST(:window AS interval)
                ORDER BY created_at DESC LIMIT 1""",
        ),
        {"phone": phone, "window": window},
    )
    return result.mappings().first()


async def pushes_since(session: AsyncSession, tenant_id: int, phone: str, window: timedelta) -> int:
    count = await session.scalar(
        tenant_sql(
            tenant_id,
            """SELECT count(*) FROM stk_request
                WHERE {tenant} AND phone = :phone
                  AND created_at > now() - CAST(:window AS interval)""",
        ),
        {"phone": phone, "window": window},
    )
    return int(count or 0)


async def insert_request(
    session: AsyncSession, tenant_id: int, values: dict[str, Any]
) -> RowMapping:
    """values: plan, voucher, phone, amount, list_price, promo, type, ref, mac, ip, offers,
    language, subscriber (a subscriber's bill: plan and voucher None)."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO stk_request (tenant_id, plan_id, voucher_id, phone, amount,
                                     list_price, promo_code_id, account_type, reference,
                                     client_mac, client_ip, offers_opt_in, language,
                                     subscriber_id)
            VALUES (:tenant_id, :plan, :voucher, :phone, :amount, :list_price, :promo, :type,
                    :ref, :mac, :ip, :offers, :language, :subscriber)
            RETURNING id, public_id, reference, amount""",
        ),
        {"offers": False, "language": None, "subscriber": None} | values,
    )
    return result.mappings().one()


async def push_refused(session: AsyncSession, tenant_id: int, request_id: int, desc: str) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE stk_request SET status = 'failed', result_code = 'push_refused',
                      result_desc = :desc, updated_at = now() WHERE {tenant} AND id = :id""",
        ),
        {"id": request_id, "desc": desc[:300]},
    )


async def push_sent(
    session: AsyncSession, tenant_id: int, request_id: int, merchant: str | None,
    checkout: str | None, query_after: timedelta,
) -> None:  # fmt: skip
    await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE stk_request
                  SET merchant_request_id = :merchant, checkout_request_id = :checkout,
                      next_query_at = now() + CAST(:after AS interval), updated_at = now()
                WHERE {tenant} AND id = :id""",
        ),
        {"id": request_id, "merchant": merchant, "checkout": checkout, "after": query_after},
    )


async def mark_paid(
    session: AsyncSession, tenant_id: int, request_id: int, receipt: str | None, desc: str,
    confirm: timedelta | None,
) -> None:  # fmt: skip
    await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE stk_request SET status = 'paid', receipt = COALESCE(:receipt, receipt),
                      result_code = '0', result_desc = :desc, updated_at = now(),
                      next_query_at = now() + CAST(:confirm AS interval)
                WHERE {tenant} AND id = :id""",
        ),
        {"id": request_id, "receipt": receipt, "desc": desc, "confirm": confirm},
    )


async def mark_failed(
    session: AsyncSession, tenant_id: int, request_id: int, code: str, desc: str
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE stk_request SET status = 'failed', result_code = :code, result_desc = :desc,
                      next_query_at = NULL, updated_at = now()
                WHERE {tenant} AND id = :id""",
        ),
        {"id": request_id, "code": code, "desc": desc[:300]},
    )


async def request_receipt(
    session: AsyncSession, tenant_id: int, request_id: int, receipt: str
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE stk_request SET receipt = :receipt"
            " WHERE {tenant} AND id = :id AND receipt IS NULL",
        ),
        {"id": request_id, "receipt": receipt},
    )


async def callback_seen(session: AsyncSession, tenant_id: int, request_id: int) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE stk_request SET callback_at = COALESCE(callback_at, now())"
            " WHERE {tenant} AND id = :id",
        ),
        {"id": request_id},
    )


async def stop_querying(session: AsyncSession, tenant_id: int, request_id: int) -> None:
    await session.execute(
        tenant_sql(
            tenant_id, "UPDATE stk_request SET next_query_at = NULL WHERE {tenant} AND id = :id"
        ),
        {"id": request_id},
    )


async def query_answered(session: AsyncSession, tenant_id: int, request_id: int, code: str) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE stk_request SET query_result_code = :code WHERE {tenant} AND id = :id",
        ),
        {"code": code, "id": request_id},
    )


async def purchase_status(
    session: AsyncSession, tenant_id: int, public_id: str
) -> RowMapping | None:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT r.public_id, r.status, r.amount, r.phone, r.plan_id, r.result_code,
                   r.result_desc, r.receipt, r.created_at, s.currency,
                   v.code AS voucher_code, g.kind AS grant_kind
              FROM stk_request r
              JOIN payment_settings s ON s.tenant_id = r.tenant_id
              LEFT JOIN payment p ON p.stk_request_id = r.id
              LEFT JOIN payment_grant g ON g.payment_id = p.id
              LEFT JOIN voucher v ON v.id = g.voucher_id
             WHERE {tenant:r} AND r.public_id = CAST(:id AS uuid)""",
        ),
        {"id": public_id},
    )
    return result.mappings().first()


# ------------------------------------------------------------------ payments


async def payment_of_request(session: AsyncSession, tenant_id: int, request_id: int) -> int | None:
    return await session.scalar(
        tenant_sql(tenant_id, "SELECT id FROM payment WHERE {tenant} AND stk_request_id = :id"),
        {"id": request_id},
    )


async def lock_payment(session: AsyncSession, tenant_id: int, receipt: str) -> RowMapping | None:
    """The payment recorded under this M-Pesa receipt, locked."""
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT * FROM payment WHERE {tenant} AND receipt = :r FOR UPDATE"),
        {"r": receipt},
    )
    return result.mappings().first()


async def payment_id(session: AsyncSession, tenant_id: int, receipt: str) -> int | None:
    return await session.scalar(
        tenant_sql(tenant_id, "SELECT id FROM payment WHERE {tenant} AND receipt = :r"),
        {"r": receipt},
    )


async def bind_payment(
    session: AsyncSession, tenant_id: int, payment_id: int, request_id: int
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id, "UPDATE payment SET stk_request_id = :req WHERE {tenant} AND id = :id"
        ),
        {"req": request_id, "id": payment_id},
    )


async def grant_bound_payment(
    session: AsyncSession, tenant_id: int, payment_id: int, request_id: int
) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            """UPDATE payment SET stk_request_id = :req, status = 'granted'
                WHERE {tenant} AND id = :id""",
        ),
        {"req": request_id, "id": payment_id},
    )


async def insert_stk_payment(
    session: AsyncSession, req: RowMapping, receipt: str | None, paid_at: datetime | None
) -> int:
    payment_id = await session.scalar(
        tenant_sql(
            req["tenant_id"],
            """
            INSERT INTO payment (tenant_id, source, receipt, stk_request_id, amount, currency,
                                 phone, account_reference, paid_at, status)
            SELECT :tenant_id, 'stk', :receipt, :req, :amount, s.currency, :phone,
                   :reference, :paid_at, 'granted'
              FROM payment_settings s WHERE {tenant:s}
            RETURNING id""",
        ),
        {
            "receipt": receipt,
            "req": req["id"],
            "amount": req["amount"],
            "phone": req["phone"],
            "reference": req["reference"],
            "paid_at": paid_at,
        },
    )
    return int(payment_id)  # type: ignore[arg-type]


async def attach_receipt(
    session: AsyncSession, tenant_id: int, payment_id: int, receipt: str
) -> int | None:
    """Sets the receipt of a payment that has none, unless another payment holds it."""
    return await session.scalar(
        tenant_sql(
            tenant_id,
            """
            UPDATE payment SET receipt = :receipt
             WHERE {tenant} AND id = :id AND receipt IS NULL
               AND NOT EXISTS (SELECT 1 FROM payment o
                                WHERE o.tenant_id = payment.tenant_id AND o.receipt = :receipt)
            RETURNING id""",
        ),
        {"id": payment_id, "receipt": receipt},
    )


async def insert_c2b_payment(
    session: AsyncSession, tenant_id: int, values: dict[str, Any]
) -> int | None:
    """values: receipt, amount, currency, phone, ref, shortcode, paid_at, status, note. None
    when the receipt is on record already (a concurrent delivery committed it first)."""
    return await session.scalar(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO payment (tenant_id, source, receipt, amount, currency, phone,
                                 account_reference, shortcode, paid_at, status, note)
            VALUES (:tenant_id, 'c2b', :receipt, :amount, :currency, :phone, :ref, :shortcode,
                    :paid_at, :status, :note)
            ON CONFLICT (tenant_id, receipt) DO NOTHING
            RETURNING id""",
        ),
        values,
    )


async def grant_claimed(session: AsyncSession, tenant_id: int, payment_id: int) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE payment SET status = 'granted', note = NULL WHERE {tenant} AND id = :id",
        ),
        {"id": payment_id},
    )


async def grant_resolved(session: AsyncSession, tenant_id: int, payment_id: int, note: str) -> None:
    """A held or unclaimed payment given its package by staff (resolve.py), with who and why."""
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE payment SET status = 'granted', note = :note WHERE {tenant} AND id = :id",
        ),
        {"id": payment_id, "note": note},
    )


async def hold(session: AsyncSession, tenant_id: int, payment_id: int, note: str) -> None:
    """Money that found nothing to buy after all (the subscriber whose bill it paid is gone):
    held for staff to resolve, with why, never counted as granted."""
    await session.execute(
        tenant_sql(
            tenant_id,
            "UPDATE payment SET status = 'held', note = :note WHERE {tenant} AND id = :id",
        ),
        {"id": payment_id, "note": note},
    )
