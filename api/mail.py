"""E-mail to staff (invites, password resets, alerts) over SMTP: the ISP platform's own
mail server or a provider's relay (MNETIFI_SMTP_*). The stack runs a local SMTP server that keeps
every message in a directory (deploy/fakes/mailbox.py), so nothing is sent anywhere in dev and
tests.

A message is plain text (and optionally HTML); addresses and the subject are checked here, so a
value from a form cannot add a header or a recipient."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Server:
    """An SMTP server and its login (the password in memory only; repr hides it)."""

    host: str
    port: int
    tls: str  # "starttls", "tls" (port 465) or "none" (a server on the same machine)
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Sender:
    address: str
    name: str


def platform_server() -> Server:
    settings = get_settings()
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return Server(
        settings.smtp_host, settings.smtp_port, settings.smtp_tls,
        settings.smtp_username or None, password,
    )  # fmt: skip


def platform_sender() -> Sender:
    settings = get_settings()
    return Sender(settings.smtp_from or f"noreply@{settings.base_domain}", settings.smtp_from_name)


def build(
    to: str, subject: str, text: str, html: str | None = None, sender: Sender | None = None
) -> EmailMessage:
    sender = sender or platform_sender()
    if any(ch in subject for ch in "\r\n\0") or len(subject) > 200:
        raise BadMessage("A subject is one line of at most 200 characters")
    if any(ch in sender.name for ch in "\r\n\0"):
        raise BadMessage("A sender name is one line")
    message = EmailMessage()
    address = _address(sender.address)
    message["From"] = formataddr((sender.name, address))
    message["To"] = _address(to)
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=address.rsplit("@", 1)[-1])
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


async def transmit(server: Server, message: EmailMessage) -> None:
    """Hands one message to the server; raises aiosmtplib's errors (or OSError) as they come."""
    await aiosmtplib.send(
        message,
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.tls == "tls",
        start_tls=True if server.tls == "starttls" else False,
        timeout=get_settings().smtp_timeout,
    )


async def send(to: str, subject: str, text: str, html: str | None = None) -> str:
    """Sends one message; returns its Message-ID. 503 with a sentence when the server cannot be
    reached or refuses it (the caller decides whether to retry)."""
    message = build(to, subject, text, html)
    try:
        await transmit(platform_server(), message)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise ServiceUnavailable(
            f"The mail server could not take the message ({type(exc).__name__}); try again"
        ) from exc
    return str(message["Message-ID"])
