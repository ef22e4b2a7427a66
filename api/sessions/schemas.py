"""Sessions: FreeRADIUS's accounting rows (radacct), as staff read them; fair-usage rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from api.deps import DbId
from api.vouchers.schemas import Code, RouterRef

BIGINT_MAX = 2**63 - 1
RATE = r"^[0-9]+[kM]?/[0-9]+[kM]?$"


def _ip_to_str(value: Any) -> Any:
    # asyncpg returns INET as ipaddress objects.
    return None if value is None else str(getattr(value, "ip", value))


IPString = Annotated[str, BeforeValidator(_ip_to_str)]


class SessionPage(BaseModel):
    """Newest first. Keyset paging: pass the last `id` you got as `before` for the next page
    (stable while sessions come and go); `offset` also works for jumping ahead."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=500)
    before: int | None = Field(
        default=None, ge=1, le=BIGINT_MAX, description="Only sessions older than this id."
    )
    offset: int = Field(default=0, ge=0, le=10**12)


class SessionFilter(SessionPage):
    live: bool = Field(
        default=True,
        description="true: only sessions online now; false: every session, live or closed.",
    )
    router_id: DbId | None = None
    voucher: Code | None = Field(default=None, description="Only this voucher's sessions.")


class SessionOut(BaseModel):
    id: int = Field(description="radacct id; use as `before` to page on.")
    voucher_code: str | None = Field(description="Null for sessions not made with a voucher.")
    username: str | None
    mac: str | None = Field(description="The device: Calling-Station-Id.")
    ip_address: IPString | None = Field(description="The device's address: Framed-IP-Address.")
    router: RouterRef | None = Field(description="Null if no router of yours has that address.")
    nas_ip_address: IPString = Field(description="Router address the session was reported from.")
    started_at: datetime | None
    updated_at: datetime | None = Field(description="Last accounting packet (start, interim).")
    stopped_at: datetime | None
    session_seconds: int
    bytes_in: int = Field(description="Acct-Input-Octets: sent by the device (upload).")
    bytes_out: int = Field(description="Acct-Output-Octets: received by the device (download).")
    terminate_cause: str | None
    live: bool = Field(description="Open and updated within the ISP's grace period.")


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["router", "isp"] = Field(description="Count users per router, or ISP-wide.")
    threshold: int = Field(ge=0, le=100_000, description="Applies while users are above this.")
    rate_limit: str = Field(pattern=RATE, description='Mikrotik-Rate-Limit, e.g. "2M/2M".')
    plan_id: DbId | None = Field(None, description="Only this plan's sessions (default: all).")
