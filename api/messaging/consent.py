"""Whether an ISP may send a phone offers: one `offer_consent` row per (ISP, phone), opted in by
"Send me offers" ticked at a paid purchase, opted out by texting STOP (or ACHA) to the ISP or by
staff. Opting in again after opting out takes another tick at a purchase. Everything here is in
one ISP's scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.tenancy import tenant_sql


def prefix_patterns(prefixes: str) -> list[str]:
    """The ISP's country prefixes ("+254,+256") as LIKE patterns (digits and + only: no LIKE
    wildcard can be in them, the settings' pattern allows none)."""
    return [p + "%" for p in prefixes.split(",") if p]


async def opt_in(
    session: AsyncSession, tenant_id: int, phone: str, source: str, ref: str,
    language: str | None,
) -> None:  # fmt: skip
    await session.execute(
        tenant_sql(
            tenant_id,
            """INSERT INTO offer_consent AS c (tenant_id, phone, status, language, opted_in_at,
                                               opted_in_source, opted_in_ref)
               VALUES (:tenant_id, :phone, 'in', :language, now(), :source, :ref)
               ON CONFLICT (tenant_id, phone) DO UPDATE
                  SET status = 'in', opted_in_at = now(), opted_in_source = :source,
                      opted_in_ref = :ref, language = COALESCE(:language, c.language),
                      updated_at = now()""",
        ),
        {"phone": phone, "source": source, "ref": ref, "language": language},
    )


async def opt_out(
    session: AsyncSession, tenant_id: int, phone: str, source: str, ref: str
) -> RowMapping:
    """Opts the phone out (a row even for a phone that never opted in, so a later broadcast
    knows); returns its row as it was before (`status` None: no row) with its language."""
    before = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT status, language FROM offer_consent
                WHERE {tenant} AND phone = :phone FOR UPDATE""",
        ),
        {"phone": phone},
    )
    row = before.mappings().first()
    await session.execute(
        tenant_sql(
            tenant_id,
            """INSERT INTO offer_consent (tenant_id, phone, status, opted_out_at,
                                          opted_out_source, opted_out_ref)
               VALUES (:tenant_id, :phone, 'out', now(), :source, :ref)
               ON CONFLICT (tenant_id, phone) DO UPDATE
                  SET status = 'out', opted_out_at = now(), opted_out_source = :source,
                      opted_out_ref = :ref, updated_at = now()""",
        ),
        {"phone": phone, "source": source, "ref": ref},
    )
    return row if row is not None else _NO_ROW


_NO_ROW: Any = {"status": None, "language": None}


async def consents(session: AsyncSession, tenant_id: int, phone: str) -> bool:
    """True when the phone has opted in to this ISP's offers and not out since."""
    status = await session.scalar(
        tenant_sql(tenant_id, "SELECT status FROM offer_consent WHERE {tenant} AND phone = :phone"),
        {"phone": phone},
    )
    return status == "in"


async def counts(session: AsyncSession, tenant_id: int) -> dict[str, int]:
    """{"consenting": n, "opted_out": n} for the ISP."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT count(*) FILTER (WHERE status = 'in') AS consenting,
                      count(*) FILTER (WHERE status = 'out') AS opted_out
                 FROM offer_consent WHERE {tenant}""",
        )
    )
    row = result.mappings().one()
    return {"consenting": int(row["consenting"]), "opted_out": int(row["opted_out"])}


_AUDIENCE = """FROM offer_consent
               WHERE {tenant} AND status = 'in' AND opted_in_at <= :asof
                 AND phone LIKE ANY (CAST(:patterns AS text[]))"""


async def audience(session: AsyncSession, tenant_id: int, prefixes: str, asof: Any) -> int:
    """How many phones an offer sent at `asof` reaches: opted in by then, not opted out, within
    the ISP's country prefixes."""
    count = await session.scalar(
        tenant_sql(tenant_id, "SELECT count(*) " + _AUDIENCE),
        {"patterns": prefix_patterns(prefixes), "asof": asof},
    )
    return int(count or 0)


async def next_phones(
    session: AsyncSession, tenant_id: int, prefixes: str, asof: Any, after: str | None,
    limit: int,
) -> list[RowMapping]:  # fmt: skip
    """The audience's next `limit` phones after `after`, in phone order (a broadcast's cursor),
    each with its language."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            "SELECT phone, language "
            + _AUDIENCE
            + " AND phone > COALESCE(CAST(:after AS text), '') ORDER BY phone LIMIT :limit",
        ),
        {"patterns": prefix_patterns(prefixes), "asof": asof, "after": after, "limit": limit},
    )
    return list(result.mappings())
