"""An ISP's notification rules as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["sms", "whatsapp", "email"]
Wording = Field(
    None, min_length=1, max_length=640,
    description="The ISP's own wording; placeholders {isp} {code} {package} {percent} "
    "{data_left} {time_left} {support} {minutes} {amount}; null: the default wording.",
)  # fmt: skip


class RuleOut(BaseModel):
    event: str
    description: str
    enabled: bool
    channels: list[Channel]
    template_en: str = Field(description="What is sent in English (the ISP's or the default).")
    template_sw: str = Field(description="What is sent in Swahili (the ISP's or the default).")
    customised: bool = Field(description="The ISP changed the wording.")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    channels: list[Channel] = Field(["sms"], min_length=1, max_length=3)
    template_en: str | None = Wording
    template_sw: str | None = Wording


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    event: str
    voucher_id: int | None
    details: dict[str, Any]
    status: Literal["new", "done", "skipped"]
    outcome: str | None
    created_at: datetime
    processed_at: datetime | None
