"""An ISP's own settings: columns of its tenant row that FreeRADIUS reads on every login."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

UnusedVoucherDays = Annotated[
    int,
    Field(
        ge=1,
        le=3650,
        description="An unused voucher stops working this many days after issue. Applies to "
        "every unused voucher at once, including those issued earlier.",
    ),
]
AcctInterimInterval = Annotated[
    int,
    Field(
        ge=60,
        le=3600,
        description="Seconds between the routers' interim updates; sent at each login, so it "
        "reaches a session at its next login. A session counts as online for 2 intervals and "
        "a minute after its last update.",
    ),
]


class SettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unused_voucher_days: int
    acct_interim_interval: int


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unused_voucher_days: UnusedVoucherDays | None = None
    acct_interim_interval: AcctInterimInterval | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> SettingsUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change; give unused_voucher_days or acct_interim_interval")
        nulls = [f for f in self.model_fields_set if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self
