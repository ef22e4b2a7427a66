from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OperatorLoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)  # bounded: argon2 cost


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    active: bool
