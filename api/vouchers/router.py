from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import ClientIP, SessionDep
from api.tenancy import Principal, require
from api.vouchers import service
from api.vouchers.schemas import BatchCreate, BatchOut, VoucherFilter, VoucherOut

router = APIRouter(prefix="/api/v1/vouchers", tags=["vouchers"])

Reader = Annotated[Principal, Depends(require("vouchers:read"))]
Generator = Annotated[Principal, Depends(require("vouchers:generate"))]


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


@router.get("/{code}", response_model=VoucherOut)
async def get_voucher(
    code: Annotated[str, Path(min_length=1, max_length=32)], principal: Reader, session: SessionDep
) -> VoucherOut:
    return VoucherOut.model_validate(await service.get_voucher(session, principal, code))
