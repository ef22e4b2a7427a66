"""Vouchers: codes customers type at the hotspot login page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.config import get_settings
from api.deps import DbId
from api.phones import phone_or_none
from api.plans.schemas import DeviceLimit

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed on phones
MIN_LENGTH, MAX_LENGTH, DEFAULT_LENGTH = 6, 8, 8
# What a code can look like, in any case (people type them in lower case too).
CODE_PATTERN = f"^[{ALPHABET}{ALPHABET.lower()}]{{{MIN_LENGTH},{MAX_LENGTH}}}$"
CODE_DESCRIPTION = f"{MIN_LENGTH} to {MAX_LENGTH} characters of {ALPHABET}, any case."

_CODE_CHARS = frozenset(ALPHABET)


def normalize_code(text: str | None) -> str | None:
    """A typed voucher code as stored (trimmed, upper case), or None if it cannot be one: the
    portal's pages and its JSON use this, so a code is judged one way everywhere."""
    code = (text or "").strip().upper()
    return code if MIN_LENGTH <= len(code) <= MAX_LENGTH and set(code) <= _CODE_CHARS else None


CodePath = Annotated[str, Path(pattern=CODE_PATTERN, description=CODE_DESCRIPTION)]
Code = Annotated[str, Field(pattern=CODE_PATTERN, description=CODE_DESCRIPTION)]

Status = Literal["unused", "active", "revoked"]
# What voucher_state() (the same SQL FreeRADIUS runs) says about a voucher now.
State = Literal["unused", "active", "expired", "exhausted", "revoked"]


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: DbId
    count: int = Field(ge=1, description="How many codes; at most MNETIFI_VOUCHER_BATCH_MAX.")
    length: int = Field(DEFAULT_LENGTH, ge=MIN_LENGTH, le=MAX_LENGTH)
    device_limit: DeviceLimit | None = Field(
        default=None, description="Overrides the plan's device limit (owner/admin only)."
    )

    @field_validator("count")
    @classmethod
    def _at_most_batch_max(cls, count: int) -> int:
        limit = get_settings().voucher_batch_max
        if count > limit:
            raise ValueError(f"must be at most {limit}")
        return count


class BatchOut(BaseModel):
    batch_id: UUID
    plan_id: int
    count: int
    codes: list[str]


# An M-Pesa receipt as stored (payment.receipt's check): 10 letters and digits in practice.
_RECEIPT = re.compile(r"^[A-Z0-9]{6,20}$")
SEARCH_MAX = 40
SEARCH_HELP = (
    "Search by a voucher code (6 to 8 letters and digits), the customer's phone "
    "(0712345678, 254712345678 or +254712345678) or an M-Pesa receipt (e.g. SGK1A2B3C4)"
)


@dataclass(frozen=True)
class SearchTerms:
    """What a search box's text can be; a field is None when the text cannot be that. A text
    can be several at once (a code is receipt-shaped too): the search finds any of them."""

    code: str | None
    phone: str | None
    receipt: str | None


def search_terms(text: str) -> SearchTerms:
    """The search box's text as a code (normalize_code), a phone (as the payments code stores
    it) and an M-Pesa receipt (trimmed, upper case); ValueError with what to type when it is
    none of them."""
    text = text.strip()
    if len(text) > SEARCH_MAX or not text.isprintable():
        raise ValueError(SEARCH_HELP)
    receipt = text.upper()
    terms = SearchTerms(
        code=normalize_code(text),
        phone=phone_or_none(text),
        receipt=receipt if _RECEIPT.match(receipt) else None,
    )
    if terms == SearchTerms(None, None, None):
        raise ValueError(SEARCH_HELP)
    return terms


class VoucherFilter(BaseModel):
    """Newest first. Keyset paging: pass the last `id` you got as `before` for the next page
    (stable while vouchers are made); `offset` also works for jumping ahead."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(
        None,
        max_length=SEARCH_MAX,
        description="A voucher code, the customer's phone (the voucher's own, or one that paid "
        "for or extended it) or an M-Pesa receipt of a payment for it.",
    )
    status: Status | None = None
    plan_id: DbId | None = None
    batch_id: UUID | None = None
    limit: int = Field(100, ge=1, le=1000)
    before: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Only vouchers listed after this voucher id."
    )
    offset: int = Field(0, ge=0, le=10**12)

    @field_validator("q")
    @classmethod
    def _searchable(cls, q: str | None) -> str | None:
        if q is None or not q.strip():
            return None
        search_terms(q)  # says what to type instead
        return q.strip()


class VoucherOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    plan_id: int
    status: Status
    issued_at: datetime
    first_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    duration_seconds: int
    rate_limit: str
    device_limit: int
    data_quota_bytes: int | None
    time_quota_seconds: int | None
    mac_binding: bool
    batch_id: UUID | None


class VoucherUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_limit: DeviceLimit | None = Field(
        default=None, description="Devices online at once; with MAC binding, devices ever allowed."
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> VoucherUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change; give device_limit")
        nulls = [f for f in self.model_fields_set if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        return self


class RouterRef(BaseModel):
    id: int
    name: str

    @classmethod
    def of(cls, router_id: int | None, name: str | None) -> RouterRef | None:
        """From an outer join: None when no router matched."""
        return None if router_id is None or name is None else cls(id=router_id, name=name)


class DeviceOut(BaseModel):
    """A device (Calling-Station-Id) that logged in with the voucher."""

    mac: str
    first_seen: datetime
    router: RouterRef | None = Field(description="Where it first logged in; null if deleted.")


class VoucherDetail(VoucherOut):
    """The voucher with its state as FreeRADIUS sees it now (usage is as fresh as the routers'
    last interim update) and the devices that used it."""

    state: State
    reason: str | None = Field(description="Why a login would be refused now; null if usable.")
    used_seconds: int
    used_bytes: int
    seconds_left: int = Field(description="Validity left, capped by the time quota.")
    bytes_left: int | None = Field(description="Data quota left; null without a data quota.")
    usable_until: datetime | None = Field(
        description="Unused: last day to start it (issue + the ISP's unused_voucher_days); "
        "else when it expires."
    )
    devices: list[DeviceOut]


class VoucherExtend(BaseModel):
    """More time on a live voucher, given by staff (an outage's amends, a goodwill gesture): no
    payment, so a reason is required; it is audited with who gave it."""

    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(ge=1, le=43_200, description="Minutes to add (at most 30 days).")
    reason: str = Field(min_length=5, max_length=300, description="Why, for the audit log.")
