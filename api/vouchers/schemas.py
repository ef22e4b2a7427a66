"""Vouchers: codes customers type at the hotspot login page."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.config import get_settings
from api.deps import DbId

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed on phones
MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH = 6, 8, 8

Status = Literal["unused", "active", "revoked"]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: DbId
    count: int = Field(ge=1, description="How many codes; at most MNETIFI_VOUCHER_BATCH_MAX.")
    length: int = Field(DEFAULT_LENGTH, ge=MIN_LENGTH, le=MAX_LENGTH)

    @field_validator("count")
    @classmethod
    def _at_most_batch_max(cls, count: int) -> int:
        limit = get_settings().voucher_batch_max
        if count > limit:
            raise ValueError(f"must be at most {limit}")
        return count


class BatchOut(BaseModel):
    batch_id: UUID
    plan_id: int
    count: int
    codes: list[str]


class VoucherFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    plan_id: DbId | None = None
    batch_id: UUID | None = None
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=10**12)


class VoucherOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    plan_id: int
    status: Status
    issued_at: datetime
    first_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    duration_seconds: int
    rate_limit: str
    device_limit: int
    data_quota_bytes: int | None
    time_quota_seconds: int | None
