"""The platform operators' API, on the platform's own host (never an ISP's subdomain)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth.schemas import TokenOut
from api.deps import ClientIP, SessionDep
from api.permissions import P
from api.platform import service
from api.platform.schemas import OperatorLoginIn, TenantOut
from api.tenancy import Operator, public, require_platform, subdomain_slug

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])

Tenants = Annotated[Operator, Depends(require_platform(P.PLATFORM_TENANTS))]


@router.post("/login", response_model=TokenOut, dependencies=[Depends(public("signing in"))])
async def login(body: OperatorLoginIn, request: Request, ip: ClientIP) -> TokenOut:
    on_isp_host = subdomain_slug(request) is not None
    return await service.login(
        email=body.email, password=body.password, on_isp_host=on_isp_host, ip=ip
    )


@router.get("/tenants", response_model=list[TenantOut])
async def list_tenants(operator: Tenants, session: SessionDep) -> list[TenantOut]:
    """Every ISP on the platform (no ISP's data beyond who they are)."""
    return [TenantOut.model_validate(t) for t in await service.list_tenants(session)]
