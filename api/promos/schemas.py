"""Promo codes as staff write and read them. Money is an integer number of KES."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.deps import INT32_MAX, DbId

CODE = re.compile(r"^[A-Z0-9]{3,20}$")
MAX_PERCENT = 100

Kind = Literal["percent", "fixed"]
Value = Annotated[
    int, Field(gt=0, le=INT32_MAX, description="Percent off (1-100), or KES off (fixed).")
]
MaxUses = Annotated[
    int, Field(gt=0, le=INT32_MAX, description="Paid purchases allowed; null: unlimited.")
]
Status = Literal["active", "scheduled", "ended", "used_up", "inactive"]


def normalize_code(code: str) -> str:
    """How a code is stored and matched: trimmed, upper case ("  xmas24 " is XMAS24)."""
    return code.strip().upper()


def check_terms(
    kind: str, value: int, starts_at: datetime | None, ends_at: datetime | None
) -> None:
    """The rules that span fields (also checked on a PATCH, against the merged promo)."""
    if kind == "percent" and value > MAX_PERCENT:
        raise ValueError("A percentage discount cannot be more than 100")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("The promo must end after it starts (ends_at after starts_at)")


class PromoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="3 to 20 letters and digits; stored in upper case.")
    kind: Kind
    value: Value
    plan_id: DbId | None = Field(None, description="Only this plan; null: every plan.")
    starts_at: AwareDatetime | None = Field(None, description="Null: usable at once.")
    ends_at: AwareDatetime | None = Field(None, description="Null: no end.")
    max_uses: MaxUses | None = None

    @field_validator("code")
    @classmethod
    def _code(cls, code: str) -> str:
        code = normalize_code(code)
        if not CODE.match(code):
            raise ValueError("A promo code is 3 to 20 letters and digits, without spaces")
        return code

    @model_validator(mode="after")
    def _terms(self) -> PromoCreate:
        check_terms(self.kind, self.value, self.starts_at, self.ends_at)
        return self


_NULLABLE = {"plan_id", "starts_at", "ends_at", "max_uses"}


class PromoUpdate(BaseModel):
    """Partial; the code itself cannot change (customers were told it): make a new one."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind | None = None
    value: Value | None = None
    plan_id: DbId | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    max_uses: MaxUses | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PromoUpdate:
        nulls = [f for f in self.model_fields_set - _NULLABLE if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self


class PromoOut(BaseModel):
    id: int
    code: str
    kind: Kind
    value: int
    plan_id: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    max_uses: int | None
    uses: int = Field(description="Paid purchases that used the code.")
    pending: int = Field(description="Purchases awaiting payment that hold a use (10 minutes).")
    active: bool
    status: Status
    created_at: datetime
