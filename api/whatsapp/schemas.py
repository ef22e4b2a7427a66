"""An ISP's WhatsApp account as the API takes it (secrets write-only) and shows it (never a
secret: only whether each is set)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from api.sms.schemas import Phone, Username

Secret = Annotated[SecretStr, Field(min_length=1, max_length=1024)]
PhoneNumberId = Annotated[
    str, Field(pattern=r"^[0-9]{1,32}$", description="Meta's phone number id (digits)")
]
Template = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9_]{1,512}$",
        description="An approved template's name; its one body parameter carries the text",
    ),
]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$", description="e.g. en, sw")]


class WhatsappSettingsIn(BaseModel):
    """The provider that sends, and its credentials. Credentials of the other provider left out
    are kept (switching back needs none re-typed); a secret left out keeps the stored one."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["at_whatsapp", "meta"]
    at_username: Username | None = None
    at_api_key: Secret | None = None
    at_wa_number: Phone | None = None
    meta_phone_number_id: PhoneNumberId | None = None
    meta_access_token: Secret | None = None
    meta_app_secret: Secret | None = None
    meta_verify_token: Secret | None = None
    meta_template: Template | None = None
    meta_language: Language | None = None


class WhatsappSettingsOut(BaseModel):
    provider: str | None
    at_username: str | None
    at_wa_number: str | None
    has_at_api_key: bool
    meta_phone_number_id: str | None
    meta_template: str | None
    meta_language: str | None
    has_meta_access_token: bool
    has_meta_app_secret: bool
    has_meta_verify_token: bool
    # To be set as the webhook (Meta's App Dashboard) and the status callback (AT's dashboard).
    meta_webhook_url: str | None
    at_callback_url: str | None
