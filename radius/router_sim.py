"""A MikroTik router as far as CoA goes: its `/radius incoming` port (RFC 5176), for tests and
benchmarks. It drops requests whose Request Authenticator or Message-Authenticator fails with its
secret (silently, like RouterOS; counted in `rejected`), records every valid one in `received`,
and answers like RouterOS: a request naming a session it holds is ACKed (a Disconnect ends the
session, a CoA changes the attributes RouterOS lets CoA change), any other is NAKed with
Error-Cause 503 (Session-Context-Not-Found). `answer()` overrides that for tests: always ACK,
always NAK, silence, or a reply that fails verification ("forged": wrong Response
Authenticator; "forged-ma": right one, wrong Message-Authenticator).

Retransmissions (same source, Identifier and Request Authenticator) get the answer already
given, as RFC 5080 section 2.2.2 asks; a Disconnect resent after a lost ACK is thus ACKed again
rather than NAKed for a session it already ended. Silence is not remembered: a resend of an
unanswered request is answered afresh.

    router = RouterSim("127.9.0.1", b"secret")
    await router.start()
    router.sessions["80f00003"] = {"User-Name": "K7H2PQ", "Framed-IP-Address": "10.5.50.10"}
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pyrad import packet
from pyrad.dictionary import Dictionary

DICTIONARY = Path(__file__).with_name("dictionary")
SESSION_NOT_FOUND = 503
MISSING_ATTRIBUTE = 402
# What RouterOS lets a CoA change, among the attributes our dictionary has (RADIUS manual,
# "Change of Authorization"); the address, pool and routes need a Disconnect.
CHANGEABLE = (
    "Mikrotik-Group",
    "Mikrotik-Recv-Limit",
    "Mikrotik-Xmit-Limit",
    "Mikrotik-Rate-Limit",
    "Filter-Id",
    "Session-Timeout",
    "Idle-Timeout",
)
# Identification that must agree with the session when a request carries it.
IDENTIFYING = ("User-Name", "Framed-IP-Address", "Calling-Station-Id")
_CODES: dict[int, Literal["disconnect", "coa"]] = {
    packet.DisconnectRequest: "disconnect",
    packet.CoARequest: "coa",
}
_NAKS = {packet.DisconnectRequest: packet.DisconnectNAK, packet.CoARequest: packet.CoANAK}
_REMEMBERED = 4096  # answers kept for retransmissions

Answer = Literal["ack", "nak", "silent", "forged", "forged-ma"]
Mode = Literal["auto", "ack", "nak", "silent", "forged", "forged-ma"]


@dataclass(frozen=True)
class Received:
    """One valid request: its attributes decoded by the dictionary (one value, or a list when
    repeated), when it arrived (time.monotonic()) and what the router did with it."""

    code: Literal["disconnect", "coa"]
    attributes: dict[str, Any]
    at: float
    answer: Answer
    source: tuple[str, int]
    identifier: int
    message_authenticator: bool  # present (and valid: an invalid one is rejected)
    raw: bytes  # the packet as received


class RouterSim(asyncio.DatagramProtocol):
    def __init__(
        self,
        address: str,
        secret: bytes,
        *,
        port: int = 0,
        dictionary: str | Path | Dictionary = DICTIONARY,
    ) -> None:
        self.address, self.secret, self.port = address, secret, port
        if isinstance(dictionary, Dictionary):
            self.dictionary = dictionary
        else:
            self.dictionary = Dictionary(str(dictionary))
        self.sessions: dict[str, dict[str, Any]] = {}  # Acct-Session-Id -> its attributes
        self.received: list[Received] = []
        self.rejected = 0
        self._mode: Mode = "auto"
        self._cause: int | None = None
        self._times: int | None = None
        self._answers: OrderedDict[tuple[Any, ...], tuple[Answer, bytes]] = OrderedDict()
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> None:
        """Listens on address:port (port 0: a free one, in `port` afterwards)."""
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # bursts of a fan-out
        sock.bind((self.address, self.port))
        self.port = sock.getsockname()[1]
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, sock=sock)

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> RouterSim:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def answer(
        self, mode: Mode, *, error_cause: int | None = None, times: int | None = None
    ) -> None:
        """Overrides the next `times` answers (None: until changed; "auto" goes back to the
        RouterOS behaviour). A forced ACK still applies the request to a session it names."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        self._mode, self._cause, self._times = mode, error_cause, times

    # ------------------------------------------------------------ the protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        request = self._verified(data)
        if request is None:
            self.rejected += 1
            return
        code, attributes = _CODES[request.code], _decoded(request)
        retransmission = (addr, request.id, request.authenticator)
        if retransmission in self._answers:
            answer, raw = self._answers[retransmission]
        else:
            answer, raw = self._handle(request, code, attributes)
            if answer in ("ack", "nak"):
                self._answers[retransmission] = (answer, raw)
                if len(self._answers) > _REMEMBERED:
                    self._answers.popitem(last=False)
        signed = bool(request.message_authenticator)
        at = time.monotonic()
        self.received.append(
            Received(code, attributes, at, answer, addr[:2], request.id, signed, data)
        )
        if raw and self._transport is not None:
            self._transport.sendto(raw, addr)

    def _verified(self, data: bytes) -> packet.CoAPacket | None:
        try:
            request = packet.CoAPacket(packet=data, secret=self.secret, dict=self.dictionary)
        except packet.PacketError:
            return None
        if request.code not in _CODES or not request.VerifyCoARequest():
            return None
        if request.message_authenticator and not request.verify_message_authenticator():
            return None
        return request

    def _handle(
        self, request: packet.CoAPacket, code: str, attributes: dict[str, Any]
    ) -> tuple[Answer, bytes]:
        mode, cause = self._next_mode()
        if mode == "silent":
            return "silent", b""
        answer: Answer
        if mode == "auto":
            answer, cause = self._apply(code, attributes)
        else:
            answer = mode
            if mode == "ack":
                self._apply(code, attributes)
        return answer, self._reply(request, answer, cause)

    def _next_mode(self) -> tuple[Mode, int | None]:
        mode, cause = self._mode, self._cause
        if self._times is not None:
            self._times -= 1
            if self._times == 0:
                self._mode, self._cause, self._times = "auto", None, None
        return mode, cause

    # ------------------------------------------------------------ RouterOS's behaviour
    def _apply(self, code: str, attributes: dict[str, Any]) -> tuple[Answer, int | None]:
        """ACK and end or change the sessions a request names, or NAK it."""
        if "Acct-Session-Id" in attributes:
            session_id = attributes["Acct-Session-Id"]
            candidates = [session_id] if session_id in self.sessions else []
        elif "User-Name" in attributes:
            name = attributes["User-Name"]
            candidates = [k for k, s in self.sessions.items() if s.get("User-Name") == name]
        else:
            return "nak", MISSING_ATTRIBUTE
        keys = [
            key
            for key in candidates
            if all(
                self.sessions[key].get(name, value) == value
                for name, value in attributes.items()
                if name in IDENTIFYING
            )
        ]
        if not keys:
            return "nak", SESSION_NOT_FOUND
        for key in keys:
            if code == "disconnect":
                del self.sessions[key]
            else:
                changes = {n: attributes[n] for n in CHANGEABLE if n in attributes}
                self.sessions[key].update(changes)
        return "ack", None

    def _reply(self, request: packet.CoAPacket, mode: Answer, cause: int | None) -> bytes:
        reply = request.CreateReply()
        if mode == "nak":
            reply.code = _NAKS[request.code]
            if cause is not None:
                reply["Error-Cause"] = cause
        # Signed like the request: with a Message-Authenticator if it had one (RFC 5176 3.3).
        if request.message_authenticator or mode == "forged-ma":
            reply.add_message_authenticator()
        if mode not in ("forged", "forged-ma"):
            return bytes(reply.ReplyPacket())
        reply.secret = b"not the router's secret"
        raw: bytes = reply.ReplyPacket()
        if mode == "forged-ma":  # a valid Response Authenticator over a bad Message-Authenticator
            # MD5 is what RFC 5176 section 3.3 prescribes for the Response Authenticator.
            signed = hashlib.md5(raw[:4] + request.authenticator + raw[20:] + self.secret)  # noqa: S324
            raw = raw[:4] + signed.digest() + raw[20:]
        return raw


def _decoded(request: packet.CoAPacket) -> dict[str, Any]:
    """Attributes by name (code for ones the dictionary lacks), decoded where possible."""
    attributes: dict[str, Any] = {}
    for key in request.keys():
        try:
            values = request[key]
        except (ValueError, OSError, struct.error):  # undecodable: keep the raw octets
            values = OrderedDict.__getitem__(request, request._EncodeKey(key))
        attributes[str(key)] = values[0] if len(values) == 1 else values
    return attributes
