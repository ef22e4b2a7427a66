"""A local SMTP server for the stack (aiosmtpd, a real SMTP implementation): it accepts every
message and keeps it as an .eml file in a directory, newest last, so the demo and the tests can
read what staff were sent (invites, password resets, alerts). Nothing leaves the machine.

Magic recipients (any domain), for the failure cases:
  smtp-550@...        refused: 550 5.1.1 mailbox unavailable (permanent)
  smtp-451@...        refused every time: 451 4.3.0 try again later (temporary)
  smtp-451-twice@...  451 twice (per address), then accepted

    python -m deploy.fakes.mailbox --port 18401 --dir .run/test/mailbox
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import time
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MAX_BYTES = 2 * 1024 * 1024


class Keep:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = itertools.count(1)
        self.refused: collections.Counter[str] = collections.Counter()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        local = address.split("@", 1)[0].lower()
        if local == "smtp-550":
            return "550 5.1.1 Mailbox unavailable"
        if local == "smtp-451" or (local == "smtp-451-twice" and self.refused[address] < 2):
            self.refused[address] += 1
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        name = f"{time.time_ns()}-{next(self.counter):06d}.eml"
        recipients = ", ".join(envelope.rcpt_tos)
        head = f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {recipients}\r\n"
        tmp = self.directory / (name + ".tmp")
        tmp.write_bytes(head.encode() + content)
        tmp.rename(self.directory / name)  # readers never see half a message
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(
        Keep(args.dir), hostname="127.0.0.1", port=args.port, data_size_limit=MAX_BYTES
    )
    controller.start()
    print(f"mailbox: SMTP on 127.0.0.1:{args.port}, messages in {args.dir}", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
