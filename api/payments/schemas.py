"""An ISP's M-Pesa account as the API takes it (secrets write-only) and shows it (never)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Shortcode = Annotated[str, Field(pattern=r"^\d{5,7}$", description="5-7 digits")]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=512)]


class PaymentSettingsIn(BaseModel):
    """The whole account. A secret left out keeps its stored value (it is never shown, so a form
    cannot send it back); on the first save all three Daraja secrets are required."""

    model_config = ConfigDict(extra="forbid")

    environment: Literal["sandbox", "production"]
    account_type: Literal["paybill", "till"]
    shortcode: Shortcode = Field(description="Paybill number, or the till's store number")
    till_number: Shortcode | None = Field(None, description="Till number (till accounts only)")
    c2b_shortcode: Shortcode | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "KES"
    consumer_key: Secret | None = None
    consumer_secret: Secret | None = None
    passkey: Secret | None = None
    initiator_name: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    initiator_password: Secret | None = None

    @model_validator(mode="after")
    def _till_needs_its_number(self) -> PaymentSettingsIn:
        if self.account_type == "till" and self.till_number is None:
            raise ValueError("a till account needs till_number (and shortcode = store number)")
        if self.account_type == "paybill" and self.till_number is not None:
            raise ValueError("till_number is only for till accounts")
        return self


class PaymentSettingsOut(BaseModel):
    environment: str
    account_type: str
    shortcode: str
    till_number: str | None
    c2b_shortcode: str | None
    currency: str
    initiator_name: str | None
    # Whether each secret is stored; the values themselves are never returned.
    has_consumer_key: bool
    has_consumer_secret: bool
    has_passkey: bool
    has_initiator_password: bool


class PurchaseIn(BaseModel):
    """A customer buying a package from the portal (no account needed)."""

    model_config = ConfigDict(extra="forbid")

    plan_id: int = Field(ge=1, le=2_147_483_647)
    phone: str = Field(min_length=9, max_length=20, description="07.., 01.., +2547.., 2541..")
    voucher_code: str | None = Field(
        None, max_length=8, pattern=r"^[A-Za-z0-9]{6,8}$",
        description="Buying more time on this voucher (extends it while it is live).",
    )  # fmt: skip
    client_mac: str | None = Field(
        None, pattern=r"^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$", description="From the router."
    )
    promo_code: str | None = Field(None, max_length=40, description="An ISP promo code.")
    offers: bool = Field(
        False, description='"Send me offers" ticked: the phone agrees to the ISP\'s offers once '
        "this purchase is paid (STOP by SMS opts out).",
    )  # fmt: skip
    language: Literal["en", "sw"] | None = Field(None, description="The portal's language.")


class QuoteIn(BaseModel):
    """What a package costs with a promo code, before paying."""

    model_config = ConfigDict(extra="forbid")

    plan_id: int = Field(ge=1, le=2_147_483_647)
    promo_code: str | None = Field(None, max_length=40)


class ClaimIn(BaseModel):
    """'Already paid? Enter your M-Pesa code': a till (or held) payment turned into a package."""

    model_config = ConfigDict(extra="forbid")

    receipt: str = Field(min_length=1, max_length=20, description="The M-Pesa code in the SMS.")
    plan_id: int = Field(ge=1, le=2_147_483_647)


class ResolveIn(BaseModel):
    """Staff giving money that bought nothing (unclaimed or held) what it paid for: a package,
    as a new voucher (for the customer's phone, if given) or more time on a live voucher."""

    model_config = ConfigDict(extra="forbid")

    receipt: str = Field(min_length=1, max_length=20, description="The payment's M-Pesa code.")
    plan_id: int = Field(ge=1, le=2_147_483_647, description="A package of the payment's price.")
    voucher_code: str | None = Field(
        None, max_length=8, pattern=r"^[A-Za-z0-9]{6,8}$",
        description="Extend this live voucher instead of making a new one.",
    )  # fmt: skip
    phone: str | None = Field(
        None,
        min_length=9,
        max_length=20,
        description="The customer's phone, kept on a new voucher.",
    )
    reason: str = Field(
        min_length=5, max_length=300, description="Why (shown in the audit log and on the payment)."
    )
