from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

Text = Annotated[str, Field(min_length=1, max_length=320)]
MAX_PAGE = 10_000


class AuditFilter(BaseModel):
    """GET /api/v1/audit and /api/v1/audit.csv: every filter is optional and they combine."""

    model_config = ConfigDict(extra="forbid")

    actor: Text | None = Field(None, description="the actor's email, or cli")
    action: Text | None = Field(None, description="exact, or a prefix ending in * (plan.*)")
    object_type: Text | None = None
    object_id: Text | None = None
    since: AwareDatetime | None = Field(None, description="ISO 8601 with a time zone")
    until: AwareDatetime | None = Field(None, description="ISO 8601 with a time zone, excluded")
    page: int = Field(1, ge=1, le=MAX_PAGE)
    limit: int = Field(50, ge=1, le=500)
    before: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="Only events older than this id: the last id of the page before (keyset "
        "paging, as fast deep in the log as at its top); `page` then counts from there.",
    )

    @field_validator("actor", "action", "object_type", "object_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text")
        return value

    @field_validator("action")
    @classmethod
    def _one_wildcard(cls, value: str | None) -> str | None:
        if value is not None and "*" in value[:-1]:
            raise ValueError("only a trailing * is allowed (plan.* for every plan action)")
        return value

    @model_validator(mode="after")
    def _window(self) -> AuditFilter:
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    actor: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: str | None
    ip: str | None
    user_agent: str | None
    details: dict[str, Any]
    changes: dict[str, Any] | None

    @field_validator("ip", mode="before")
    @classmethod
    def _address(cls, value: object) -> str | None:
        return None if value is None else str(getattr(value, "ip", value))


class AuditPage(BaseModel):
    page: int
    limit: int
    items: list[AuditOut]
