"""Messages as staff see them (never the text: it may hold a one-time code), and an ISP's
e-mail sender as the API takes it (the SMTP password write-only) and shows it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, model_validator


class MessageOut(BaseModel):
    """Not the provider's message id either (with the number, that id is what a delivery report
    must name to be believed)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    provider: str | None
    recipient: str
    subject: str | None
    template: str | None
    purpose: str
    status: str
    account: str | None
    attempts: int
    max_attempts: int
    next_attempt_at: datetime | None
    provider_status: str | None
    status_code: int | None
    cost: Decimal | None
    currency: str | None
    error: str | None
    created_at: datetime
    sent_at: datetime | None
    final_at: datetime | None


class MessagePage(BaseModel):
    items: list[MessageOut]
    # Pass as `before` for the next (older) page; null on the last page.
    next_before: int | None


Channel = Literal["sms", "whatsapp", "email"]
Status = Literal["queued", "sending", "sent", "delivered", "failed"]
Host = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}$", description="SMTP server name")]


class EmailSettingsIn(BaseModel):
    """The ISP's sender; with smtp_host, its own server (else the platform's). The password
    left out keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    from_address: EmailStr
    from_name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\r\n\x00]+$")]
    smtp_host: Host | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    smtp_password: Annotated[SecretStr, Field(min_length=1, max_length=1024)] | None = None

    @model_validator(mode="after")
    def _server(self) -> EmailSettingsIn:
        if (self.smtp_host is None) != (self.smtp_port is None):
            raise ValueError("smtp_host and smtp_port come together")
        if self.smtp_host is None and (self.smtp_username or self.smtp_password):
            raise ValueError("an SMTP login needs smtp_host and smtp_port")
        return self


class EmailSettingsOut(BaseModel):
    from_address: str | None
    from_name: str | None
    smtp_host: str | None
    smtp_port: int | None
    smtp_tls: str | None
    smtp_username: str | None
    has_smtp_password: bool
    # Whose sender and server this ISP's e-mail uses now.
    sends_with: Literal["isp", "platform"]
