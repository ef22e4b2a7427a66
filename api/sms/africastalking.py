"""Africa's Talking SMS on the wire now lives with the other channels' clients
(api/messaging/africastalking.py); these names stay importable from here."""

from api.messaging.africastalking import (
    ACCEPTED_CODES,
    LIVE_URL,
    SANDBOX_URL,
    Account,
    Outcome,
    ProviderError,
    parse_answer,
    parse_cost,
    send,
)

__all__ = [
    "ACCEPTED_CODES",
    "LIVE_URL",
    "SANDBOX_URL",
    "Account",
    "Outcome",
    "ProviderError",
    "parse_answer",
    "parse_cost",
    "send",
]
