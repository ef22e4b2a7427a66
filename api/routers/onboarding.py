"""Routes for bringing routers online and watching them: the RouterOS onboarding script and
router health.

Include this router before api.routers.endpoints: `/api/v1/routers/health` would otherwise match
`/api/v1/routers/{router_id}` there and be refused as a bad id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from api.deps import ClientMeta, IdPath, SessionDep
from api.permissions import P
from api.routers import health, script
from api.routers.health import RouterHealth
from api.tenancy import Principal, require

router = APIRouter(prefix="/api/v1/routers", tags=["routers"])

Reader = Annotated[Principal, Depends(require(P.ROUTERS_READ))]
# The script holds the router's RADIUS secret, which the API otherwise shows only to those who
# set it (routers:write): support staff (routers:read) do not get it this way either.
Writer = Annotated[Principal, Depends(require(P.ROUTERS_WRITE))]


@router.get("/health", response_model=list[RouterHealth])
async def list_router_health(principal: Reader, session: SessionDep) -> list[RouterHealth]:
    """Every router of the ISP: last accounting, live sessions, last CoA answer, status."""
    return list(await health.list_health(session, principal))


@router.get("/{router_id}/health", response_model=RouterHealth)
async def get_router_health(
    router_id: IdPath, principal: Reader, session: SessionDep
) -> RouterHealth:
    return await health.router_health(session, principal, router_id)


@router.get("/{router_id}/script", response_class=PlainTextResponse)
async def get_router_script(
    router_id: IdPath, request: Request, principal: Writer, session: SessionDep, meta: ClientMeta
) -> PlainTextResponse:
    """The RouterOS v7 script that onboards this router in one paste (it contains the router's
    secret; each download is in the audit log)."""
    body = await script.download(session, principal, router_id, request.url.scheme, meta)
    return PlainTextResponse(
        body,
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="mnetifi-router-{router_id}.rsc"',
        },
    )
