"""An ISP's portal branding: name shown, colour, support phone, default language and logo.
Staff manage it at /api/v1/branding (owner, admin); the portal reads it per request."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
from api.deps import ClientIP, SessionDep
from api.errors import AppError, BadRequest
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/branding", tags=["branding"])
Reader = Annotated[Principal, Depends(require("settings:read"))]
Writer = Annotated[Principal, Depends(require("settings:write"))]
MAX_LOGO = 64 * 1024
# What a logo file starts with, per type: the bytes decide, not the client's Content-Type.
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
}


class PayloadTooLarge(AppError):
    status_code = 413
    default_detail = "Too large"


class BrandingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=60)
    primary_color: str = Field("#0d6efd", pattern=r"^#[0-9a-fA-F]{6}$")
    support_phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+ ()-]{3,30}$")
    language: Literal["en", "sw"] = "en"


async def _read(session: AsyncSession, tenant_id: int) -> dict[str, Any]:
    result = await session.execute(
        text("""SELECT t.name, s.display_name,
                       COALESCE(s.primary_color, '#0d6efd') AS primary_color, s.support_phone,
                       COALESCE(s.language, 'en') AS language,
                       s.logo IS NOT NULL AS has_logo
                  FROM tenant t LEFT JOIN portal_settings s ON s.tenant_id = t.id
                 WHERE t.id = :t"""),
        {"t": tenant_id},
    )
    return dict(result.mappings().one())


@router.get("")
async def get_branding(principal: Reader, session: SessionDep) -> dict[str, Any]:
    return await _read(session, principal.tenant_id)


@router.put("")
async def put_branding(
    body: BrandingIn, principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, Any]:
    await session.execute(
        text("""
            INSERT INTO portal_settings (tenant_id, display_name, primary_color, support_phone,
                                         language)
            VALUES (:t, :name, :color, :phone, :lang)
            ON CONFLICT (tenant_id) DO UPDATE
               SET display_name = EXCLUDED.display_name, primary_color = EXCLUDED.primary_color,
                   support_phone = EXCLUDED.support_phone, language = EXCLUDED.language,
                   updated_at = now()"""),
        {"t": principal.tenant_id, "name": body.display_name, "color": body.primary_color,
         "phone": body.support_phone, "lang": body.language},
    )  # fmt: skip
    await audit.record(
        session, principal, "branding.update", "tenant", principal.tenant_id,
        body.model_dump(), ip,
    )  # fmt: skip
    return await _read(session, principal.tenant_id)


@router.put("/logo")
async def put_logo(
    request: Request, principal: Writer, session: SessionDep, ip: ClientIP
) -> dict[str, Any]:
    """The logo as the request body (PNG, JPEG or WebP, at most 64 KB)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_LOGO:
            raise PayloadTooLarge(f"The logo must be at most {MAX_LOGO // 1024} KB")
        chunks.append(chunk)
    data = b"".join(chunks)
    kind = next((k for k, magic in _MAGIC.items() if data.startswith(magic)), None)
    if kind is None or (kind == "image/webp" and data[8:12] != b"WEBP"):
        raise BadRequest("The logo must be a PNG, JPEG or WebP image")
    await session.execute(
        text("""
            INSERT INTO portal_settings (tenant_id, logo, logo_type) VALUES (:t, :logo, :type)
            ON CONFLICT (tenant_id) DO UPDATE
               SET logo = EXCLUDED.logo, logo_type = EXCLUDED.logo_type, updated_at = now()"""),
        {"t": principal.tenant_id, "logo": data, "type": kind},
    )
    details = {"bytes": len(data), "type": kind}
    await audit.record(
        session, principal, "branding.logo", "tenant", principal.tenant_id, details, ip
    )
    return await _read(session, principal.tenant_id)


@router.delete("/logo", status_code=204)
async def delete_logo(principal: Writer, session: SessionDep, ip: ClientIP) -> Response:
    await session.execute(
        text("UPDATE portal_settings SET logo = NULL, logo_type = NULL WHERE tenant_id = :t"),
        {"t": principal.tenant_id},
    )
    await audit.record(
        session, principal, "branding.logo_delete", "tenant", principal.tenant_id, None, ip
    )
    return Response(status_code=204)
