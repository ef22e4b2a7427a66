"""E-mail to staff (invites, password resets, alerts) over SMTP: the ISP platform's own
mail server or a provider's relay (MNETIFI_SMTP_*). The stack runs a local SMTP server that keeps
every message in a directory (deploy/fakes/mailbox.py), so nothing is sent anywhere in dev and
tests.

A message is plain text (and optionally HTML); addresses and the subject are checked here, so a
value from a form cannot add a header or a recipient."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from api.config import get_settings
from api.errors import ServiceUnavailable


class BadMessage(ValueError):
    """The message itself is wrong (an address, a subject): not worth retrying."""


def _address(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise BadMessage(f"Not an e-mail address: {value[:80]!r}") from exc


def build(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    settings = get_settings()
    if any(ch in subject for ch in "\r\n\0") or len(subject) > 200:
        raise BadMessage("A subject is one line of at most 200 characters")
    message = EmailMessage()
    sender = _address(settings.smtp_from or f"noreply@{settings.base_domain}")
    message["From"] = formataddr((settings.smtp_from_name, sender))
    message["To"] = _address(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def send(to: str, subject: str, text: str, html: str | None = None) -> str:
    """Sends one message; returns its Message-ID. 503 with a sentence when the server cannot be
    reached or refuses it (the caller decides whether to retry)."""
    settings = get_settings()
    message = build(to, subject, text, html)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=password,
            use_tls=settings.smtp_tls == "tls",
            start_tls=True if settings.smtp_tls == "starttls" else False,
            timeout=settings.smtp_timeout,
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ServiceUnavailable(
            f"The mail server could not take the message ({type(exc).__name__}); try again"
        ) from exc
    return str(message["Message-ID"])
