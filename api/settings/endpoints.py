from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import ClientMeta, SessionDep
from api.permissions import P
from api.settings import service
from api.settings.schemas import SettingsOut, SettingsUpdate
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])

Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]


@router.get("", response_model=SettingsOut)
async def get_settings(principal: Reader, session: SessionDep) -> SettingsOut:
    return await service.get_settings(session, principal)


@router.patch("", response_model=SettingsOut)
async def update_settings(
    body: SettingsUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> SettingsOut:
    return await service.update_settings(session, principal, body, meta)
