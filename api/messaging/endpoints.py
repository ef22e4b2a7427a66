"""Staff routes of messaging: every message the ISP sent on any channel (filtered, keyset
pages), and the ISP's e-mail sender (owners and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ClientMeta, SessionDep
from api.messaging import service
from api.messaging.schemas import Channel, EmailSettingsIn, EmailSettingsOut, MessagePage, Status
from api.permissions import P
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1", tags=["messages"])
Reader = Annotated[Principal, Depends(require(P.SETTINGS_READ))]
Writer = Annotated[Principal, Depends(require(P.SETTINGS_WRITE))]


@router.get("/messages", response_model=MessagePage)
async def list_messages(
    principal: Reader,
    session: SessionDep,
    channel: Channel | None = None,
    status: Status | None = None,
    recipient: Annotated[str | None, Query(min_length=1, max_length=254)] = None,
    since: datetime | None = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessagePage:
    return await service.messages(
        session, principal, channel=channel, status=status, recipient=recipient, since=since,
        before=before, limit=limit,
    )  # fmt: skip


@router.get("/email/settings", response_model=EmailSettingsOut)
async def get_email_settings(principal: Reader, session: SessionDep) -> EmailSettingsOut:
    return await service.get_email_settings(session, principal)


@router.put("/email/settings", response_model=EmailSettingsOut)
async def save_email_settings(
    body: EmailSettingsIn, principal: Writer, session: SessionDep, meta: ClientMeta
) -> EmailSettingsOut:
    return await service.save_email_settings(session, principal, body, meta)


@router.delete("/email/settings", response_model=EmailSettingsOut)
async def delete_email_settings(
    principal: Writer, session: SessionDep, meta: ClientMeta
) -> EmailSettingsOut:
    return await service.delete_email_settings(session, principal, meta)
