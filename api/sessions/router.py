from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import SessionDep
from api.sessions import service
from api.sessions.schemas import SessionFilter, SessionOut
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])

Reader = Annotated[Principal, Depends(require("sessions:read"))]


@router.get("", response_model=list[SessionOut])
async def list_sessions(
    query: Annotated[SessionFilter, Query()], principal: Reader, session: SessionDep
) -> list[SessionOut]:
    return await service.list_sessions(session, principal, query)
