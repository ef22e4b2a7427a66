from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import ClientMeta, SessionDep
from api.permissions import P
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
    body: BatchCreate, principal: Generator, session: SessionDep, meta: ClientMeta
) -> BatchOut:
    return await service.generate_batch(session, principal, body, meta)


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
    code: CodePath, body: VoucherUpdate, principal: Writer, session: SessionDep, meta: ClientMeta
) -> VoucherDetail:
    return await service.update_voucher(session, principal, code, body, meta)
