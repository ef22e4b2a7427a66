"""SQL for the portal: an ISP's branding and logo, and what a voucher's holder may see of it.
Every query is scoped by tenant_sql(); the ISP behind a Host is found by its slug in
api.tenants.repository (the request names no tenant yet)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from api.hotspot.schemas import BrandingIn
from api.tenancy import tenant_sql


async def branding(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT t.name, s.display_name,
                      COALESCE(s.primary_color, '#0d6efd') AS primary_color, s.support_phone,
                      COALESCE(s.language, 'en') AS language,
                      s.logo IS NOT NULL AS has_logo
                 FROM tenant t LEFT JOIN portal_settings s ON {tenant:s}
                WHERE t.id = :tenant_id""",
        )
    )
    return dict(result.mappings().one())


async def save_branding(session: AsyncSession, tenant_id: int, body: BrandingIn) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO portal_settings (tenant_id, display_name, primary_color, support_phone,
                                         language)
            VALUES (:tenant_id, :name, :color, :phone, :lang)
            ON CONFLICT (tenant_id) DO UPDATE
               SET display_name = EXCLUDED.display_name, primary_color = EXCLUDED.primary_color,
                   support_phone = EXCLUDED.support_phone, language = EXCLUDED.language,
                   updated_at = now()""",
        ),
        {"name": body.display_name, "color": body.primary_color, "phone": body.support_phone,
         "lang": body.language},
    )  # fmt: skip


async def save_logo(session: AsyncSession, tenant_id: int, data: bytes, kind: str) -> None:
    await session.execute(
        tenant_sql(
            tenant_id,
            """
            INSERT INTO portal_settings (tenant_id, logo, logo_type)
            VALUES (:tenant_id, :logo, :type)
            ON CONFLICT (tenant_id) DO UPDATE
               SET logo = EXCLUDED.logo, logo_type = EXCLUDED.logo_type, updated_at = now()""",
        ),
        {"logo": data, "type": kind},
    )


async def delete_logo(session: AsyncSession, tenant_id: int) -> None:
    await session.execute(
        tenant_sql(
            tenant_id, "UPDATE portal_settings SET logo = NULL, logo_type = NULL WHERE {tenant}"
        )
    )


async def logo(session: AsyncSession, tenant_id: int) -> tuple[bytes, str] | None:
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT logo, logo_type FROM portal_settings WHERE {tenant}")
    )
    row = result.first()
    return (bytes(row[0]), row[1]) if row is not None and row[0] is not None else None


async def voucher_for_holder(session: AsyncSession, tenant_id: int, code: str) -> RowMapping | None:
    """The voucher with its state as FreeRADIUS would judge it now and its devices online."""
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """
            SELECT v.code, v.device_limit, v.rate_limit, p.name AS package, s.*,
                   (SELECT count(DISTINCT a.callingstationid) FROM radacct a
                     WHERE a.voucher_id = v.id AND a.acctstoptime IS NULL
                       AND COALESCE(a.acctupdatetime, a.acctstarttime)
                           > now() - session_grace(t.acct_interim_interval)) AS devices_online,
                   -- Crossed the ISP's usage threshold (radius_accounting() noted it, 0016).
                   COALESCE(p.usage_warning_percent, t.usage_warning_percent) AS warn_percent,
                   v.data_quota_bytes IS NOT NULL
                     AND v.warned_data_quota IS NOT DISTINCT FROM v.data_quota_bytes AS data_warned,
                   v.time_quota_seconds IS NOT NULL
                     AND v.warned_time_quota IS NOT DISTINCT FROM v.time_quota_seconds
                     AS time_warned,
                   -- Outages going on now: the ISP's, and those at a router the voucher is
                   -- online at or at its zone (or a zone above it).
                   ARRAY(SELECT o.message FROM outage o
                          WHERE o.tenant_id = v.tenant_id AND o.starts_at <= now()
                            AND (o.ends_at IS NULL OR o.ends_at > now())
                            AND ((o.router_id IS NULL AND o.zone_id IS NULL) OR EXISTS (
                                 SELECT 1 FROM radacct a
                                   JOIN router r ON r.tenant_id = a.tenant_id
                                                AND r.ip_address = a.nasipaddress
                                   LEFT JOIN zone z ON z.tenant_id = r.tenant_id
                                                   AND z.id = r.zone_id
                                  WHERE a.voucher_id = v.id AND a.acctstoptime IS NULL
                                    AND (r.id = o.router_id OR z.path @> ARRAY[o.zone_id])))
                          ORDER BY o.id DESC LIMIT 3) AS outages
              FROM voucher v
              JOIN tenant t ON t.id = v.tenant_id
              JOIN plan p ON p.id = v.plan_id
             CROSS JOIN LATERAL voucher_state(v, t.unused_voucher_days) s
             WHERE {tenant:v} AND v.code = :code""",
        ),
        {"code": code},
    )
    return result.mappings().first()
