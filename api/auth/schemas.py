from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    # Bounded so nobody can make us argon2-hash megabytes.
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(
        None, max_length=63, description="ISP slug; taken from the subdomain when there is one."
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the token expires.")


class MeOut(BaseModel):
    staff_id: int | None
    tenant_id: int
    email: str
    role: str
