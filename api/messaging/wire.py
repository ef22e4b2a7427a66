"""What every channel's client answers: an Outcome (the provider took the message, or refused
it with its reason), or a ProviderError (no usable answer) that says whether trying again later
may succeed. Shared by the clients so the outbox treats every channel alike."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Outcome:
    """What the provider said about one message."""

    accepted: bool
    status: str  # the provider's word: Success, InvalidPhoneNumber, accepted, 250, ...
    status_code: int | None = None
    message_id: str | None = None
    cost: Decimal | None = None
    currency: str | None = None


class ProviderError(Exception):
    """No usable answer: not reachable, a 5xx, a refusal of our credentials, or a body that is
    not the provider's. The message is safe to store and show (it never holds a secret).

    `temporary`: the provider did not take the message and may later (unreachable before the
    request went out, a 5xx, a rate limit), so the outbox tries again with backoff. An answer
    that may have come after the provider took it (a read timeout) is never temporary: trying
    again could send it twice."""

    def __init__(self, message: str, *, status: int | None = None, temporary: bool | None = None):
        super().__init__(message)
        self.status = status
        if temporary is None:
            temporary = status is None or status >= 500 or status == 429
        self.temporary = temporary
