"""Subscribers, their monthly plans and the ISP's IP pools, as the API takes and shows them.
Usernames, MACs and addresses are checked here so a mistake gets a 422 naming the field; what
needs the database (unique names and addresses, the address inside a declared pool, a zone of
the tech's) is checked by the service."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from api.phones import normalize_phone
from api.zones.schemas import Latitude, Longitude, Name

USERNAME_PATTERN = r"^[A-Za-z0-9.@_-]{3,64}$"
_MAC = re.compile(r"^[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}$")


def _username(value: str) -> str:
    if not re.fullmatch(USERNAME_PATTERN, value):
        raise ValueError("must be 3 to 64 characters: letters, digits and . - _ @ only (no spaces)")
    return value


def _password(value: str) -> str:
    if not 6 <= len(value) <= 64:
        raise ValueError("must be 6 to 64 characters")
    if any(not (0x20 < ord(c) < 0x7F) for c in value):
        raise ValueError(
            "may only use printable ASCII without spaces (what a router's PPPoE client can type)"
        )
    return value


def _mac(value: str) -> str:
    """AA:BB:CC:DD:EE:FF, as RouterOS's DHCP server sends it, from aa-bb-.., aabbcc.. too."""
    text = value.strip()
    if not _MAC.match(text):
        raise ValueError("must be a MAC address like AA:BB:CC:DD:EE:FF")
    digits = re.sub(r"[:-]", "", text).upper()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _ipv4(value: str) -> str:
    try:
        ip = ipaddress.IPv4Address(value.strip())
    except ValueError:
        raise ValueError("must be a single IPv4 address like 10.20.0.5") from None
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.packed == b"\xff" * 4:
        raise ValueError("must be a unicast host address")
    return str(ip)


def _phone(value: str) -> str:
    return normalize_phone(value)


def _cidr(value: str) -> str:
    try:
        network = ipaddress.IPv4Network(value.strip(), strict=True)
    except ValueError:
        raise ValueError("must be an IPv4 network like 10.20.0.0/24 (host bits zero)") from None
    if network.prefixlen < 8:
        raise ValueError("must be a /8 or smaller")
    return str(network)


def _text(value: Any) -> Any:
    # asyncpg returns INET/CIDR as ipaddress objects.
    return None if value is None else str(getattr(value, "ip", value))


Username = Annotated[str, AfterValidator(_username)]
Password = Annotated[str, AfterValidator(_password)]
Mac = Annotated[str, AfterValidator(_mac)]
IPv4 = Annotated[str, AfterValidator(_ipv4)]
Phone = Annotated[str, AfterValidator(_phone)]
Cidr = Annotated[str, AfterValidator(_cidr)]
Kbps = Annotated[int, Field(ge=8, le=10_000_000)]
Kind = Literal["pppoe", "static"]
Status = Literal["active", "suspended"]


def _location(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise ValueError("give both latitude and longitude, or neither")


class SubscriberCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    username: Username = Field(description="Unique in your ISP; letters, digits, . - _ @")
    kind: Kind = "pppoe"
    password: Password | None = Field(None, description="Generated (and shown once) if omitted")
    name: Name
    phone: Phone | None = None
    zone_id: int | None = Field(None, ge=1, description="Required of techs: one of their zones")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    router_id: int | None = Field(None, ge=1)
    plan_id: int = Field(ge=1, description="A monthly plan (GET /api/v1/subscriber-plans)")
    due_at: datetime | None = Field(None, description="Paid up to; default a month from now")
    status: Status = "active"
    ip_address: IPv4 | None = Field(None, description="A fixed address in one of your IP pools")
    mac: Mac | None = Field(None, description="Static clients: the MAC its DHCP lease asks with")

    @model_validator(mode="after")
    def _consistent(self) -> SubscriberCreate:
        _location(self.latitude, self.longitude)
        if self.kind == "static" and (self.ip_address is None or self.mac is None):
            raise ValueError("a static client needs ip_address and mac")
        if self.due_at is not None and self.due_at.tzinfo is None:
            raise ValueError("due_at needs a time zone, e.g. 2025-07-01T00:00:00+03:00")
        return self


class SubscriberUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    username: Username | None = None
    kind: Kind | None = None
    password: Password | None = None
    name: Name | None = None
    phone: Phone | None = None
    zone_id: int | None = Field(None, ge=1)
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    router_id: int | None = Field(None, ge=1)
    plan_id: int | None = Field(None, ge=1)
    due_at: datetime | None = None
    status: Status | None = None
    ip_address: IPv4 | None = None
    mac: Mac | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> SubscriberUpdate:
        required = {"username", "kind", "password", "name", "plan_id", "due_at", "status"}
        nulls = [f for f in self.model_fields_set & required if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        if {"latitude", "longitude"} & self.model_fields_set:
            _location(self.latitude, self.longitude)
        if self.due_at is not None and self.due_at.tzinfo is None:
            raise ValueError("due_at needs a time zone, e.g. 2025-07-01T00:00:00+03:00")
        return self


class SubscriberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    kind: str
    name: str
    phone: str | None
    zone_id: int | None
    latitude: float | None
    longitude: float | None
    router_id: int | None
    plan_id: int
    due_at: datetime
    balance: int = Field(0, description="Paid towards the next month, not yet a whole one")
    status: str
    ip_address: Annotated[str | None, BeforeValidator(_text)]
    ip_pool_id: int | None
    mac: str | None
    login_blocked_until: datetime | None = Field(
        None,
        description="Too many wrong PPPoE passwords: other devices than the customer's own router"
        " (or it too, after its own) are refused until then; POST .../unblock ends it",
    )
    created_at: datetime


class SubscriberWithPassword(SubscriberOut):
    """Only when the password was generated: give it to the customer (or set it on the CPE)."""

    password: str


class PlanCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name
    price: int = Field(ge=0, le=10_000_000, description="A month, in shillings")
    upload_kbps: Kbps
    download_kbps: Kbps
    burst_upload_kbps: Kbps | None = None
    burst_download_kbps: Kbps | None = None
    burst_seconds: int | None = Field(None, ge=1, le=3600)
    data_cap_bytes: int | None = Field(None, ge=1, description="A month's data; none: unlimited")
    active: bool = True

    @model_validator(mode="after")
    def _burst(self) -> PlanCreate:
        burst = (self.burst_upload_kbps, self.burst_download_kbps, self.burst_seconds)
        if any(v is not None for v in burst) and any(v is None for v in burst):
            raise ValueError("a burst needs burst_upload_kbps, burst_download_kbps, burst_seconds")
        if self.burst_upload_kbps is not None and (
            self.burst_upload_kbps <= self.upload_kbps
            or (self.burst_download_kbps or 0) <= self.download_kbps
        ):
            raise ValueError("burst rates must be above the plan's rates")
        return self


class PlanUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Name | None = None
    price: int | None = Field(None, ge=0, le=10_000_000)
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null(self) -> PlanUpdate:
        nulls = [f for f in self.model_fields_set if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    price: int
    upload_kbps: int
    download_kbps: int
    burst_upload_kbps: int | None
    burst_download_kbps: int | None
    burst_seconds: int | None
    data_cap_bytes: int | None
    rate_limit: str
    active: bool
    created_at: datetime


class PoolCreate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
    cidr: Cidr


class PoolUpdate(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]


class PoolOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    cidr: Annotated[str, BeforeValidator(str)]
    created_at: datetime


class SubscriberPaymentOut(BaseModel):
    id: int
    receipt: str | None
    amount: int
    months: int
    balance_before: int
    balance_after: int
    due_before: datetime
    due_after: datetime
    created_at: datetime
    source: str
    phone: str | None


class BillPushIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    phone: str | None = Field(None, max_length=20, description="Default: the subscriber's")
    amount: int | None = Field(
        None, ge=1, le=250_000, description="Default: the plan's price less the balance"
    )


class BillPushOut(BaseModel):
    purchase_id: str
