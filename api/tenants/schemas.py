from __future__ import annotations

from pydantic import BaseModel, ConfigDict, EmailStr, Field

SLUG_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"


class TenantCreate(BaseModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="Subdomain: lower-case letters, digits, -")
    name: str = Field(min_length=1, max_length=200)
    admin_email: EmailStr
    admin_password: str = Field(min_length=10, max_length=1024)


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    active: bool
