"""Disconnect-Request and CoA-Request to routers (RFC 5176), asyncio.

One UDP socket carries every request of a process to any number of routers at once. Replies are
matched by (router address, port, Identifier); identifiers are allocated per router, 256 in
flight each, further requests to that router wait for a free one. Each request carries an
Event-Timestamp and a Message-Authenticator (RouterOS's `require-message-auth` may want it; NAS
implementations that don't, ignore it). A reply counts only if its Response Authenticator and,
when present, its Message-Authenticator check out with the router's secret; anything else is
ignored, so a forged or mis-keyed reply looks like no answer. Silence is retried with the same
bytes after `timeout`, `timeout * backoff`, ... (`retries` retransmissions); a NAK is final.

    async with CoAClient() as coa:
        result = await coa.change(Target("10.255.3.7", 3799, secret), {
            "User-Name": code, "Acct-Session-Id": "80f00003", "Framed-IP-Address": "10.5.50.10",
            "Mikrotik-Rate-Limit": "2M/2M"})

NAS-IP-Address is never added: a NAS may NAK one that differs from the address it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pyrad import packet
from pyrad.dictionary import Dictionary

DICTIONARY = Path(__file__).with_name("dictionary")
ERROR_CAUSES = {  # RFC 5176 section 3.6, in the words a person reads in a log
    201: "residual session context removed",
    202: "invalid EAP packet",
    401: "unsupported attribute",
    402: "missing attribute",
    403: "NAS identification mismatch",
    404: "invalid request",
    405: "unsupported service",
    406: "unsupported extension",
    407: "invalid attribute value",
    501: "administratively prohibited",
    502: "request not routable",
    503: "session not found",
    504: "session context not removable",
    505: "other proxy processing error",
    506: "resources unavailable",
    507: "request initiated",
    508: "multiple session selection unsupported",
}
_ACKS = {packet.DisconnectRequest: packet.DisconnectACK, packet.CoARequest: packet.CoAACK}
_NAKS = {packet.DisconnectRequest: packet.DisconnectNAK, packet.CoARequest: packet.CoANAK}
_RECEIVE_BUFFER = 1 << 20  # a fan-out's replies arrive in a burst; the kernel caps it at rmem_max
_READS_PER_WAKEUP = 256  # drain the socket, but let other callbacks run now and then


@dataclass(frozen=True)
class Target:
    """One router's CoA endpoint: its address (the source of its RADIUS packets), its
    `/radius incoming` port and its RADIUS secret."""

    address: str
    port: int
    secret: bytes


@dataclass(frozen=True)
class Result:
    """What became of one request. `attempts` counts packets sent (1 + retransmissions);
    `rtt_ms` runs from the first send to the answer."""

    outcome: Literal["ack", "nak", "timeout"]
    attempts: int
    error_cause: int | None = None
    detail: str | None = None
    rtt_ms: float | None = None


@dataclass(frozen=True)
class _Pending:
    request: packet.CoAPacket
    answer: asyncio.Future[packet.CoAPacket]


class CoAClient:
    """Sends Disconnect- and CoA-Requests; one per process (e.g. per arq worker) is enough.
    `source` binds the socket to the address routers know as their RADIUS server's."""

    def __init__(
        self,
        dictionary: str | Path | Dictionary = DICTIONARY,
        *,
        source: str | None = None,
        timeout: float = 1.0,
        retries: int = 2,
        backoff: float = 2.0,
    ) -> None:
        if isinstance(dictionary, Dictionary):
            self.dictionary = dictionary
        else:
            self.dictionary = Dictionary(str(dictionary))
        self.source, self.timeout, self.retries, self.backoff = source, timeout, retries, backoff
        self._sock: socket.socket | None = None
        self._ids: dict[tuple[str, int], asyncio.Queue[int]] = {}
        self._pending: dict[tuple[str, int, int], _Pending] = {}

    async def open(self) -> None:
        if self._sock is not None:
            return
        family = socket.AF_INET6 if self.source and ":" in self.source else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        # Without a source, any local address: the kernel picks the route's, as any client does.
        sock.bind((self.source or "", 0))
        # A reader of our own instead of a datagram transport, which takes one datagram per
        # loop iteration: 20 routers answering a fan-out would outrun it and fill the buffer.
        asyncio.get_running_loop().add_reader(sock.fileno(), self._read)
        self._sock = sock

    async def close(self) -> None:
        if self._sock is None:
            return
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        for pending in self._pending.values():
            if not pending.answer.done():
                pending.answer.set_exception(ConnectionError("the CoA client was closed"))

    async def __aenter__(self) -> CoAClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def disconnect(self, target: Target, attributes: Mapping[str, Any]) -> Result:
        """Disconnect-Request: `attributes` identify the session (User-Name, Acct-Session-Id,
        Framed-IP-Address, Calling-Station-Id, ...)."""
        return await self._request(packet.DisconnectRequest, target, attributes)

    async def change(self, target: Target, attributes: Mapping[str, Any]) -> Result:
        """CoA-Request: the session's identification plus the new values (Session-Timeout,
        Mikrotik-Rate-Limit, ...; RouterOS changes only those listed in its manual)."""
        return await self._request(packet.CoARequest, target, attributes)

    # ------------------------------------------------------------ one exchange
    async def _request(self, code: int, target: Target, attributes: Mapping[str, Any]) -> Result:
        if self._sock is None:
            raise RuntimeError("CoAClient.open() was not called")
        destination = (str(ipaddress.ip_address(target.address)), target.port)
        ids = self._ids.get(destination)
        if ids is None:
            ids = self._ids[destination] = _identifiers()
        ident = await ids.get()
        key = (*destination, ident)
        try:
            request = self._encode(code, ident, target.secret, attributes)
            raw = request.RequestPacket()  # also sets request.authenticator for verification
            answer = asyncio.get_running_loop().create_future()
            self._pending[key] = _Pending(request, answer)
            return await self._exchange(raw, destination, answer)
        finally:
            self._pending.pop(key, None)
            ids.put_nowait(ident)  # to the back: the last id to be reused, so a late reply fails

    def _encode(
        self, code: int, ident: int, secret: bytes, attributes: Mapping[str, Any]
    ) -> packet.CoAPacket:
        request = packet.CoAPacket(code, ident, secret, dict=self.dictionary)
        # RFC 5176 section 3.3: its HMAC-MD5 is taken with a zero Request Authenticator, then
        # the Request Authenticator covers it; pyrad does both in RequestPacket().
        request.add_message_authenticator()
        for name, value in attributes.items():
            if name != "Message-Authenticator":
                request[name] = value
        if "Event-Timestamp" not in attributes:  # RFC 5176 section 3.5: replay protection
            request["Event-Timestamp"] = int(time.time())
        return request

    async def _exchange(
        self, raw: bytes, destination: tuple[str, int], answer: asyncio.Future[packet.CoAPacket]
    ) -> Result:
        started, wait = time.monotonic(), self.timeout
        for attempt in range(1, self.retries + 2):
            self._send(raw, destination)
            done, _ = await asyncio.wait({answer}, timeout=wait)
            if done:
                return _result(answer.result(), attempt, (time.monotonic() - started) * 1000)
            wait *= self.backoff
        tries = self.retries + 1
        return Result("timeout", tries, detail=f"no answer after {tries} tries")

    def _send(self, raw: bytes, destination: tuple[str, int]) -> None:
        if self._sock is None:  # closed while this request waited for an identifier
            raise ConnectionError("the CoA client was closed")
        try:
            self._sock.sendto(raw, destination)
        except OSError:
            pass  # a full send buffer or no route: lost like a dropped packet, the resend retries

    # ------------------------------------------------------------ replies
    def _read(self) -> None:
        assert self._sock is not None
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, source = self._sock.recvfrom(4096)
            except OSError:  # BlockingIOError when drained, or a queued ICMP error
                return
            self._received(data, source[0], source[1])

    def _received(self, data: bytes, address: str, port: int) -> None:
        pending = self._pending.get((address, port, data[1])) if len(data) >= 20 else None
        if pending is None or pending.answer.done():
            return  # junk, a late answer, or one to a request already answered
        request = pending.request
        if data[0] not in (_ACKS[request.code], _NAKS[request.code]):
            return
        try:
            reply = packet.CoAPacket(packet=data, secret=request.secret, dict=self.dictionary)
        except packet.PacketError:
            return
        # Response Authenticator (RFC 5176 section 3.3) and Message-Authenticator if present.
        if request.VerifyReply(reply, data):
            pending.answer.set_result(reply)


def _identifiers() -> asyncio.Queue[int]:
    ids: asyncio.Queue[int] = asyncio.Queue()
    for ident in range(256):
        ids.put_nowait(ident)
    return ids


def _result(reply: packet.CoAPacket, attempts: int, rtt_ms: float) -> Result:
    if reply.code in (packet.DisconnectACK, packet.CoAACK):
        return Result("ack", attempts, detail="ACK", rtt_ms=rtt_ms)
    cause: int | None = None
    with contextlib.suppress(KeyError, ValueError, TypeError, struct.error):
        cause = reply["Error-Cause"][0]
    if cause is None:
        detail = "NAK without Error-Cause"
    else:
        detail = f"NAK: {ERROR_CAUSES.get(cause, 'error')} ({cause})"
    return Result("nak", attempts, error_cause=cause, detail=detail, rtt_ms=rtt_ms)
