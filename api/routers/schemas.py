"""MikroTik routers (NASes). The shared secret goes into RouterOS scripts and FreeRADIUS, so it
is restricted to characters that need no quoting there, and is shown only when it is set."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SECRET_MIN, SECRET_MAX = 16, 128
_SECRET_FORBIDDEN = set("\"'\\`$%")  # RouterOS expands $ in strings; FreeRADIUS % and quotes


def _check_ip(value: str) -> str:
    try:
        ip = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError("must be a single IPv4 or IPv6 address, not a network or a name") from None
    if ip.is_unspecified or ip.is_multicast:
        raise ValueError("must be a unicast host address (not 0.0.0.0, :: or multicast)")
    if isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address("255.255.255.255"):
        raise ValueError("must be a unicast host address (not broadcast)")
    return str(ip)


def _check_secret(value: str) -> str:
    if not SECRET_MIN <= len(value) <= SECRET_MAX:
        raise ValueError(f"must be {SECRET_MIN} to {SECRET_MAX} characters long")
    bad = {c for c in value if not (0x21 <= ord(c) <= 0x7E) or c in _SECRET_FORBIDDEN}
    if bad:
        raise ValueError("may only use printable ASCII without spaces, quotes, backslashes, $ or %")
    return value


def _ip_to_str(value: Any) -> str:
    # asyncpg returns INET as ipaddress objects (an interface when a prefix is stored).
    return str(getattr(value, "ip", value))


IPAddress = Annotated[str, AfterValidator(_check_ip)]
Secret = Annotated[str, AfterValidator(_check_secret)]
# No control characters: names show up in CLI tables, logs and router scripts.
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
NasIdentifier = Annotated[str, Field(min_length=1, max_length=253)]
CoaPort = Annotated[int, Field(ge=1, le=65535)]


class RouterCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name
    ip_address: IPAddress = Field(description="Source address of the router's RADIUS packets.")
    secret: Secret | None = Field(None, description="RADIUS shared secret; generated if omitted.")
    coa_port: CoaPort = 3799
    nas_identifier: NasIdentifier | None = None
    enabled: bool = True
    zone_id: int | None = Field(None, ge=1, description="The zone it serves (GET /api/v1/zones)")


class RouterUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name | None = None
    ip_address: IPAddress | None = None
    secret: Secret | None = None
    coa_port: CoaPort | None = None
    nas_identifier: NasIdentifier | None = None
    enabled: bool | None = None
    zone_id: int | None = Field(None, ge=1, description="Its zone; null: none")

    @model_validator(mode="after")
    def _no_null_for_required(self) -> RouterUpdate:
        optional = {"nas_identifier", "zone_id"}
        nulls = [f for f in self.model_fields_set - optional if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self


class RouterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    ip_address: Annotated[str, BeforeValidator(_ip_to_str)]
    coa_port: int
    nas_identifier: str | None
    enabled: bool
    zone_id: int | None = None
    created_at: datetime


class RouterWithSecret(RouterOut):
    """Only returned when the secret was just set: copy it to the router now."""

    secret: str
