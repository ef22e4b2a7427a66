"""Staff as the ISP's owners and admins manage them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.deps import DbId
from api.permissions import P
from api.sms.schemas import Phone

Role = Literal["owner", "admin", "tech", "support"]


class StaffOut(BaseModel):
    id: int
    email: str
    role: Role
    active: bool
    router_ids: list[int] = Field(description="Routers allocated (what a tech sees)")
    zone_ids: list[int] = Field(
        default_factory=list,
        description="Zones allocated: a tech sees their routers and "
        "subscribers, and those of every zone below them",
    )
    second_factor: Literal["totp", "sms"] | None = Field(
        None, description="The second factor the person signs in with; None: none"
    )


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class RoutersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    router_ids: Annotated[list[DbId], Field(max_length=1000)] = Field(
        description="The tech's routers from now on (replaces the current allocation)"
    )


class InviteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320, description="Their sign-in from now on")
    role: Role
    channel: Literal["email", "sms"] = Field("email", description="Where the link goes")
    phone: Phone | None = Field(None, description="For an SMS invitation")
    router_ids: Annotated[list[DbId], Field(max_length=1000)] = Field(
        default_factory=list, description="A tech's routers, allocated when they join"
    )


class InviteOut(BaseModel):
    id: int
    email: str
    role: Role
    channel: Literal["email", "sms"]
    phone: str | None = Field(description="Mostly hidden")
    router_ids: list[int]
    created_at: datetime
    expires_at: datetime


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100, description="From the invitation's link")
    password: str = Field(min_length=1, max_length=1024)


class AcceptOut(BaseModel):
    email: str
    role: Role
    tenant: str = Field(description="The ISP's slug: sign in on its address")


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_second_factor: bool


class PolicyOut(BaseModel):
    require_second_factor: bool = Field(
        description="Every staff member must set up a second factor before anything else"
    )


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="What uses it: 'billing sync'")
    permissions: Annotated[list[P], Field(min_length=1, max_length=40)] = Field(
        description="What it may do; never more than your own role"
    )


class TokenInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it")
    permissions: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewTokenOut(TokenInfo):
    token: str = Field(description="Shown once: send it as 'Authorization: Bearer <token>'")
