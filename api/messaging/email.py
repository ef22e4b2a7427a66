"""E-mail through the outbox: one message to one address over SMTP (api/mail.py builds and
transmits it), from the ISP's own sender and, when it saved one, its own server.

SMTP has no delivery reports: a message the server accepted is `sent` (its Message-ID kept as
the provider's id) and stays so. A 4xx reply or no connection is temporary (the outbox tries
again later); a 5xx reply (no such mailbox, refused sender) refuses the message."""

from __future__ import annotations

import aiosmtplib

from api import mail
from api.messaging.wire import Outcome, ProviderError


def _refusal(exc: aiosmtplib.SMTPException) -> ProviderError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        words = "; ".join(f"{r.code} {r.message}"[:200] for r in exc.recipients)
        return ProviderError(
            f"The mail server refused the address: {words}",
            status=codes[0] if codes else None,
            temporary=bool(codes) and all(400 <= c < 500 for c in codes),
        )
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPConnectTimeoutError):
        return ProviderError(f"The mail server could not be reached ({type(exc).__name__})",
                             temporary=True)  # fmt: skip
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return ProviderError(
            f"The mail server answered {exc.code} {exc.message[:200]}",
            status=exc.code,
            temporary=400 <= exc.code < 500,
        )
    # A timeout or a lost connection mid-message: the server may have the message already.
    return ProviderError(f"The mail server did not finish ({type(exc).__name__})", temporary=False)


async def send(
    server: mail.Server, sender: mail.Sender, to: str, subject: str, body: str
) -> Outcome:
    try:
        message = mail.build(to, subject, body, sender=sender)
    except mail.BadMessage as exc:
        raise ProviderError(str(exc), temporary=False) from None
    try:
        await mail.transmit(server, message)
    except aiosmtplib.SMTPException as exc:
        raise _refusal(exc) from None
    except OSError as exc:
        raise ProviderError(f"The mail server could not be reached ({type(exc).__name__})",
                            temporary=True) from None  # fmt: skip
    return Outcome(True, "250", 250, str(message["Message-ID"])[:200])
