"""Staff as the ISP's owners and admins manage them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.deps import DbId

Role = Literal["owner", "admin", "tech", "support"]


class StaffOut(BaseModel):
    id: int
    email: str
    role: Role
    active: bool
    router_ids: list[int] = Field(description="Routers allocated (what a tech sees)")


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class RoutersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    router_ids: Annotated[list[DbId], Field(max_length=1000)] = Field(
        description="The tech's routers from now on (replaces the current allocation)"
    )
