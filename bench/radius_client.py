"""An asyncio RADIUS client playing one router: many requests in flight on one UDP socket from
the router's address, resent like RouterOS, each reply's authenticator checked. Packets come
from loadgen (RouterOS-shaped hotspot logins)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import socket
import struct
from functools import partial
from typing import Any

import loadgen

STATUS_SERVER = 12


class RadiusLost(Exception):
    def __init__(self, sends: int) -> None:
        super().__init__(f"no answer after {sends} sends")
        self.retransmits = sends - 1


class Radius(asyncio.DatagramProtocol):
    """One UDP socket from the router's address; ids are reused oldest-freed first."""

    def __init__(self, router: str, secret: bytes, resend_after: float, tries: int = 3) -> None:
        self.router, self.secret = router, secret
        self.resend_after, self.tries = resend_after, tries
        self.ids: asyncio.Queue[int] = asyncio.Queue()
        for ident in range(256):
            self.ids.put_nowait(ident)
        self.pending: dict[int, tuple[bytes, asyncio.Future[int]]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(
        cls, router: str, server: tuple[str, int], secret: bytes, resend_after: float
    ) -> Radius:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((router, 0))
        sock.connect(server)
        loop = asyncio.get_running_loop()
        make = partial(cls, router, secret, resend_after)
        _, proto = await loop.create_datagram_endpoint(make, sock=sock)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        entry = self.pending.get(data[1]) if len(data) >= 20 else None
        if entry is None or entry[1].done():
            return  # a late answer to a resent request, or junk
        request, future = entry
        check = hashlib.md5(data[:4] + request[4:20] + data[20:] + self.secret).digest()
        if check == data[4:20]:
            future.set_result(data[0])

    async def ask(self, build: Any) -> tuple[int, int]:
        """Sends build(ident); returns (reply code, retransmissions)."""
        ident = await self.ids.get()
        packet = build(ident)
        future = asyncio.get_running_loop().create_future()
        self.pending[ident] = (packet, future)
        try:
            for attempt in range(self.tries):
                self.transport.sendto(packet)
                # After the last send, wait out FreeRADIUS's reject_delay (a reject is late).
                last = attempt == self.tries - 1
                wait = max(self.resend_after, 2.0) if last else self.resend_after
                try:
                    return await asyncio.wait_for(asyncio.shield(future), wait), attempt
                except TimeoutError:
                    continue
            raise RadiusLost(self.tries)
        finally:
            del self.pending[ident]
            self.ids.put_nowait(ident)

    async def login(self, code: str, mac: str, n: int) -> tuple[int, int]:
        return await self.ask(
            lambda ident: loadgen.hotspot_login(ident, self.secret, self.router, code, mac, n)
        )

    async def warm_up(self) -> None:
        """FreeRADIUS drops a new router's first packet while it looks the router up (at most
        one new client per second): Status-Server until it answers."""
        for _ in range(20):
            try:
                await self.ask(self._status_server)
                return
            except RadiusLost:
                continue
        raise SystemExit(f"FreeRADIUS never answered router {self.router}")

    def _status_server(self, ident: int) -> bytes:
        authenticator = os.urandom(16)
        body = loadgen.attr(loadgen.MESSAGE_AUTHENTICATOR, bytes(16))
        header = struct.pack("!BBH", STATUS_SERVER, ident, 20 + len(body)) + authenticator
        mac = hmac.new(self.secret, header + body, "md5").digest()
        return header + body[:-16] + mac
