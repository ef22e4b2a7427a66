"""Plans: what a voucher sells. Money is an integer number of KES."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from api.deps import INT32_MAX
from api.plans.units import rate_limit_string

MAX_DURATION = 366 * 24 * 3600
BIGINT_MAX = 2**63 - 1
MAX_KBPS = 10_000_000  # 10 Gbit/s

Name = Annotated[str, Field(min_length=1, max_length=100)]
Price = Annotated[int, Field(ge=0, le=INT32_MAX, description="KES, whole shillings.")]
Duration = Annotated[
    int, Field(gt=0, le=MAX_DURATION, description="Validity in seconds from first use.")
]
TimeQuota = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Online seconds allowed.")]
DataQuota = Annotated[int, Field(gt=0, le=BIGINT_MAX, description="Bytes allowed, up + down.")]
Kbps = Annotated[int, Field(gt=0, le=MAX_KBPS)]
DeviceLimit = Annotated[int, Field(ge=1, le=100)]


class PlanCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name
    price: Price
    duration_seconds: Duration
    time_quota_seconds: TimeQuota | None = None
    data_quota_bytes: DataQuota | None = None
    upload_kbps: Kbps
    download_kbps: Kbps
    device_limit: DeviceLimit = 1
    mac_binding: bool = False
    active: bool = True


_NULLABLE = {"time_quota_seconds", "data_quota_bytes"}


class PlanUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name | None = None
    price: Price | None = None
    duration_seconds: Duration | None = None
    time_quota_seconds: TimeQuota | None = None
    data_quota_bytes: DataQuota | None = None
    upload_kbps: Kbps | None = None
    download_kbps: Kbps | None = None
    device_limit: DeviceLimit | None = None
    mac_binding: bool | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PlanUpdate:
        nulls = [f for f in self.model_fields_set - _NULLABLE if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price: int
    duration_seconds: int
    time_quota_seconds: int | None
    data_quota_bytes: int | None
    upload_kbps: int
    download_kbps: int
    device_limit: int
    mac_binding: bool
    active: bool
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate_limit(self) -> str:
        """The Mikrotik-Rate-Limit vouchers of this plan get."""
        return rate_limit_string(self.upload_kbps, self.download_kbps)
