"""Offers as the API takes them (text and channels) and shows them (with their progress)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["sms", "whatsapp"]
MAX_TEXT = 300


class BroadcastIn(BaseModel):
    """An offer to every phone that asked for offers and has not texted STOP since. Its last
    line is added: "STOP to <the ISP's shortcode> to stop offers" (in Kiswahili to those who
    bought in Kiswahili)."""

    model_config = ConfigDict(extra="forbid")

    # Lengths are checked by the service, so an empty or long text gets one clear sentence.
    text: Annotated[str, Field(max_length=4 * MAX_TEXT, description="1 to 300 characters")]
    channels: Annotated[list[Channel], Field(max_length=2, description="sms and/or whatsapp")]


class Progress(BaseModel):
    decided: int = 0  # messages decided so far (one per recipient and channel)
    queued: int = 0
    held: int = 0  # waiting for the end of the ISP's quiet hours
    sending: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0  # opted out meanwhile, or at the daily cap
    cost: Decimal | None = None
    currency: str | None = None


class BroadcastOut(BaseModel):
    id: int
    text: str
    channels: list[str]
    stop_to: str
    status: Literal["expanding", "done"]
    audience: int  # recipients when it was sent
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    progress: Progress


class Audience(BaseModel):
    """Who an offer would reach now, and whether one can be sent."""

    recipients: int  # consenting, not opted out, within the ISP's country prefixes
    channels: list[str]  # set up for this ISP
    stop_to: str | None  # the shortcode customers text STOP to
    problem: str | None  # why no offer can be sent now, if so


class ConsentCounts(BaseModel):
    consenting: int
    opted_out: int


class OptOutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="+2547...")]
