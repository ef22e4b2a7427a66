"""SMS as the API takes it (the API key write-only) and shows it (never the key, never a
message's text: it may hold a one-time code)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

E164 = r"^\+[1-9][0-9]{6,14}$"
Phone = Annotated[str, Field(pattern=E164, description="E.164 with the +, e.g. +254712345678")]
Username = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
SenderId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9 ]{1,11}$",
        description="Alphanumeric sender id (up to 11) or shortcode registered with Africa's "
        "Talking; unset: their default",
    ),
]


Shortcode = Annotated[
    str,
    Field(
        pattern=r"^\+?[0-9]{3,15}$",
        description="The shortcode or number on this account that customers text (STOP to opt "
        "out of offers): offers name it in their last line",
    ),
]


class SmsSettingsIn(BaseModel):
    """The ISP's Africa's Talking account. The API key left out keeps the stored one (it is
    never shown, so a form cannot send it back); the first save needs it."""

    model_config = ConfigDict(extra="forbid")

    username: Username
    api_key: Annotated[SecretStr, Field(min_length=1, max_length=512)] | None = None
    sender_id: SenderId | None = None
    shortcode: Shortcode | None = None


class SmsSettingsOut(BaseModel):
    username: str | None
    sender_id: str | None
    has_api_key: bool
    # Whose account this ISP's messages go out on now: its own, the platform's, or nobody's.
    sends_with: Literal["isp", "platform", "none"]
    # To be set as the delivery reports callback on the Africa's Talking dashboard.
    delivery_report_url: str
    shortcode: str | None = None
    # To be set as the incoming messages callback on the Africa's Talking dashboard (the ISP's
    # own account only: it holds this ISP's secret).
    inbound_url: str | None = None


class SmsTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Phone


class SmsOut(BaseModel):
    """A message as staff see it: no text, and not Africa's Talking's message id (with the
    number, that id is what a delivery report must name to be believed)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    recipient: str
    purpose: str
    status: str
    account: str | None
    provider_status: str | None
    status_code: int | None
    cost: Decimal | None
    currency: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None
