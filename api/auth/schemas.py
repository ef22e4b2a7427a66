from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    email: str = Field(min_length=1, max_length=320)
    # Bounded so nobody can make us argon2-hash megabytes.
    password: str = Field(min_length=1, max_length=1024)
    tenant: str | None = Field(
        None, max_length=63, description="ISP slug; taken from the subdomain when there is one."
    )


class TokenOut(BaseModel):
    access_token: str = Field(
        description="The session id: send it as a bearer token (API clients) or let the browser "
        "keep it in the HttpOnly cookie this response also sets."
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int = Field(description="Seconds until the session ends at the latest.")
    stage: Literal["full", "second_factor", "enrol"] = Field(
        "full",
        description="full: signed in. second_factor: post the code to /api/v1/auth/second-factor. "
        "enrol: the ISP requires a second factor; set one up first.",
    )
    second_factor: Literal["totp", "sms"] | None = Field(
        None, description="Which code is owed, when the stage is second_factor."
    )


class CodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=32, description="6 digits, or a recovery code.")


class MeOut(BaseModel):
    staff_id: int | None
    tenant_id: int
    email: str
    role: str
    csrf_token: str | None = Field(
        None,
        description="Send it in X-CSRF-Token (or a csrf_token form field) with every "
        "request that changes something, when signed in by the cookie.",
    )


class ResetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=1, max_length=320)
    tenant: str | None = Field(
        None, max_length=63, description="ISP slug; taken from the subdomain when there is one."
    )


class ResetConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100, description="From the link")
    password: str = Field(min_length=1, max_length=1024)
