"""An ISP's own settings: columns of its tenant row that FreeRADIUS reads on every login."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

UnusedVoucherDays = Annotated[
    int,
    Field(
        ge=1,
        le=3650,
        description="An unused voucher stops working this many days after issue. Applies to "
        "every unused voucher at once, including those issued earlier.",
    ),
]
AcctInterimInterval = Annotated[
    int,
    Field(
        ge=60,
        le=3600,
        description="Seconds between the routers' interim updates; sent at each login, so it "
        "reaches a session at its next login. A session counts as online for 2 intervals and "
        "a minute after its last update.",
    ),
]


UsageWarningPercent = Annotated[
    int,
    Field(
        ge=0,
        le=99,
        description="Customers are told when a voucher crosses this % of its data or time quota "
        "(0: never); a package may set its own.",
    ),
]
ExpiryWarningMinutes = Annotated[
    int, Field(ge=0, le=1440, description="Minutes before a sold voucher ends to tell its buyer "
                                          "(0: never).")
]  # fmt: skip
Hour = Annotated[int, Field(ge=0, le=23)]
DailyCap = Annotated[int, Field(ge=1, le=100, description="Most messages to one recipient a day.")]
Prefixes = Annotated[
    str,
    Field(
        pattern=r"^\+[1-9][0-9]{0,5}(,\+[1-9][0-9]{0,5}){0,9}$",
        description='Country prefixes messages may go to, comma-separated ("+254,+256"): '
        "numbers elsewhere are refused, so nobody can spend the ISP's SMS balance abroad.",
    ),
]
RatePerMinute = Annotated[
    int,
    Field(ge=1, le=60000, description="Most messages a minute on each channel; the rest wait "
                                      "their turn (one-time codes never wait)."),
]  # fmt: skip
ReminderDays = Annotated[
    int,
    Field(ge=0, le=30, description="Days before a subscriber's due date to remind them by SMS "
                                   "(0: never)."),
]  # fmt: skip


def _dunning_days(value: str) -> str:
    """Days after the due date like "1,3,7" (1-99, at most 10, ascending); "" for none."""
    text = value.replace(" ", "")
    if not text:
        return ""
    try:
        days = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError('must be days after the due date, comma-separated: "1,3,7"') from None
    if not all(1 <= d <= 99 for d in days) or len(days) > 10:
        raise ValueError("each day is 1 to 99, at most 10 days")
    if days != sorted(set(days)):
        raise ValueError('give each day once, smallest first, like "1,3,7"')
    return ",".join(str(d) for d in days)


DunningDays = Annotated[
    str,
    Field(
        max_length=40,
        description="Days after a subscriber's due date to remind them again, "
        'comma-separated ("1,3,7"; "" none).',
    ),
    AfterValidator(_dunning_days),
]
# Fields that may be set to null (no quiet hours); the others may not.
NULLABLE = {"quiet_hours_from", "quiet_hours_to"}


class SettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    unused_voucher_days: int
    acct_interim_interval: int
    usage_warning_percent: int
    expiry_warning_minutes: int
    quiet_hours_from: int | None = Field(description="Promotions wait from this hour (EAT) ...")
    quiet_hours_to: int | None = Field(description="... to this one; null: no quiet hours.")
    message_daily_cap: int
    message_prefixes: str
    message_rate_per_minute: int
    subscriber_reminder_days: int
    subscriber_dunning_days: str
    subscriber_dunning_stk: bool = Field(
        description="On each dunning day, also an M-Pesa prompt for the amount due"
    )


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unused_voucher_days: UnusedVoucherDays | None = None
    acct_interim_interval: AcctInterimInterval | None = None
    usage_warning_percent: UsageWarningPercent | None = None
    expiry_warning_minutes: ExpiryWarningMinutes | None = None
    quiet_hours_from: Hour | None = None
    quiet_hours_to: Hour | None = None
    message_daily_cap: DailyCap | None = None
    message_prefixes: Prefixes | None = None
    message_rate_per_minute: RatePerMinute | None = None
    subscriber_reminder_days: ReminderDays | None = None
    subscriber_dunning_days: DunningDays | None = None
    subscriber_dunning_stk: bool | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> SettingsUpdate:
        if not self.model_fields_set:
            raise ValueError(f"nothing to change; give one of {', '.join(type(self).model_fields)}")
        nulls = [f for f in self.model_fields_set - NULLABLE if getattr(self, f) is None]
        if nulls:
            raise ValueError(f"cannot be null: {', '.join(sorted(nulls))}")
        quiet = {"quiet_hours_from", "quiet_hours_to"}
        if quiet & self.model_fields_set and not quiet <= self.model_fields_set:
            raise ValueError("give quiet_hours_from and quiet_hours_to together (both null: none)")
        if (self.quiet_hours_from is None) != (self.quiet_hours_to is None):
            raise ValueError("quiet_hours_from and quiet_hours_to are both hours or both null")
        return self
