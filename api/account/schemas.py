"""A person's own account as the API shows it: second factor, password, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.auth.schemas import TokenOut
from api.sms.schemas import Phone

PROOF = (
    "A code from your current second factor (or a recovery code); needed to change or remove "
    "one that is on."
)
Proof = Field(None, max_length=32, description=PROOF)


class SecondFactorOut(BaseModel):
    method: Literal["totp", "sms"] | None = Field(description="What a login asks for; None: off")
    pending: Literal["totp", "sms"] | None = Field(description="Started, not yet confirmed")
    phone: str | None = Field(description="Where SMS codes go, mostly hidden (+2547******78)")
    recovery_codes_left: int
    required: bool = Field(description="Your ISP requires a second factor of all its staff")


class ProofIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proof: str | None = Proof


class ProofRequiredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proof: str = Field(min_length=1, max_length=32, description=PROOF)


class SmsStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: Phone
    proof: str | None = Proof


class TotpStartOut(BaseModel):
    secret: str = Field(description="For typing into the app when the QR code cannot be read")
    uri: str = Field(description="otpauth:// URI, what the QR code holds")
    qr_svg: str = Field(description="The QR code, an SVG document")


class SmsStartOut(BaseModel):
    sent_to: str = Field(description="The phone the code went to, mostly hidden")


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, description="A code from the new method")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Shown once; each works once")


class ConfirmOut(TokenOut):
    recovery_codes: list[str] = Field(description="Shown once; each works once")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class SessionOut(BaseModel):
    key: str = Field(description="Names the session to end it; it cannot sign anyone in")
    created_at: datetime
    last_used_at: datetime
    ip: str | None
    user_agent: str
    current: bool = Field(description="The session making this request")
