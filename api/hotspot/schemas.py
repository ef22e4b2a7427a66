"""The portal's shapes: the ISP a request is for (from its Host) and the branding staff write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class Isp:
    id: int
    slug: str
    name: str
    color: str
    language: str
    has_logo: bool
    support_phone: str | None


class BrandingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, min_length=1, max_length=60)
    primary_color: str = Field("#0d6efd", pattern=r"^#[0-9a-fA-F]{6}$")
    support_phone: str | None = Field(None, max_length=30, pattern=r"^[0-9+ ()-]{3,30}$")
    language: Literal["en", "sw"] = "en"
