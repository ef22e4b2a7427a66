from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ClientIP, SessionDep
from api.permissions import P
from api.sessions import service as sessions_service
from api.sessions.schemas import SessionOut, SessionPage
from api.tenancy import Principal, require
from api.vouchers import service
from api.vouchers.schemas import (
    BatchCreate,
    BatchOut,
    CodePath,
    VoucherDetail,
    VoucherFilter,
    VoucherOut,
    VoucherUpdate,
)

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])

Reader = Annotated[Principal, Depends(require(P.VOUCHERS_READ))]
Generator = Annotated[Principal, Depends(require(P.VOUCHERS_GENERATE))]
Writer = Annotated[Principal, Depends(require(P.VOUCHERS_WRITE))]


@router.post("/batches", response_model=BatchOut, status_code=201)
async def generate_batch(
    body: BatchCreate, principal: Generator, session: SessionDep, ip: ClientIP
) -> BatchOut:
    return await service.generate_batch(session, principal, body, ip)


@router.get("", response_model=list[VoucherOut])
async def list_vouchers(
    query: Annotated[VoucherFilter, Query()], principal: Reader, session: SessionDep
) -> list[VoucherOut]:
    vouchers = await service.list_vouchers(session, principal, query)
    return [VoucherOut.model_validate(v) for v in vouchers]


@router.get("/{code}", response_model=VoucherDetail)
async def get_voucher(code: CodePath, principal: Reader, session: SessionDep) -> VoucherDetail:
    return await service.get_detail(session, principal, code)


@router.patch("/{code}", response_model=VoucherDetail)
async def update_voucher(
    code: CodePath, body: VoucherUpdate, principal: Writer, session: SessionDep, ip: ClientIP
) -> VoucherDetail:
    return await service.update_voucher(session, principal, code, body, ip)


@router.post("/{code}/revoke", response_model=VoucherDetail)
async def revoke_voucher(
    code: CodePath, principal: Writer, session: SessionDep, ip: ClientIP
) -> VoucherDetail:
    return await service.revoke_voucher(session, principal, code, ip)


@router.get("/{code}/sessions", response_model=list[SessionOut])
async def voucher_sessions(
    code: CodePath,
    page: Annotated[SessionPage, Query()],
    principal: Reader,
    session: SessionDep,
) -> list[SessionOut]:
    return await sessions_service.voucher_sessions(session, principal, code, page)
