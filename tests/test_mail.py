"""E-mail to staff (api.mail) through the stack's local SMTP server, a real SMTP server that keeps
every message as a file (deploy/fakes/mailbox.py)."""

from __future__ import annotations

import secrets

import pytest

from api import mail
from api.config import get_settings
from api.errors import ServiceUnavailable
from tests.factories import received_mail


async def test_a_message_reaches_the_smtp_server_as_written() -> None:
    marker = secrets.token_hex(8)
    message_id = await mail.send(
        "Wanjiku.K@Example.com",
        f"Your invitation {marker}",
        f"Karibu! Open the link to join: https://demo.example/invite/{marker}\n",
        html=f"<p>Karibu! <a href='https://demo.example/invite/{marker}'>Join</a></p>",
    )
    got = await received_mail(marker)
    assert got["Message-ID"] == message_id
    assert got["Subject"] == f"Your invitation {marker}"
    assert got["To"] == "Wanjiku.K@example.com"  # the domain is normalized, the name kept
    assert f"noreply@{get_settings().base_domain}" in got["From"]
    assert got["X-Envelope-To"] == "Wanjiku.K@example.com"
    text = got.get_body(("plain",))
    html = got.get_body(("html",))
    assert text is not None and "Karibu!" in text.get_content()
    assert html is not None and f"invite/{marker}" in html.get_content()


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("victim@example.com\r\nBcc: everyone@example.com", "Hello"),
        ("not an address", "Hello"),
        ("a@example.com", "Hello\r\nBcc: everyone@example.com"),
        ("a@example.com", "Hello\nX-Injected: yes"),
        ("a@example.com", "x" * 201),
    ],
)
async def test_addresses_and_subjects_cannot_add_headers(to: str, subject: str) -> None:
    with pytest.raises(mail.BadMessage):
        await mail.send(to, subject, "body")


async def test_an_unreachable_mail_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "smtp_port", 9)
    monkeypatch.setattr(get_settings(), "smtp_timeout", 2.0)
    with pytest.raises(ServiceUnavailable, match="mail server"):
        await mail.send("a@example.com", "Hello", "body")
