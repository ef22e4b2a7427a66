"""A RADIUS load generator cheap enough that a benchmark measures the server, not the client.

Every packet is built before the clock starts (authenticators, encrypted User-Password,
Message-Authenticator, all final), so sending one is a sendto() and receiving its reply is a
recv(), a dictionary lookup and one MD5 to check the Response Authenticator. Packets go out from
a few UDP sockets bound to the router's address (the servers know a router by its source IP).

Packet i of a run goes out on socket i % sockets with RADIUS id (i // sockets) % 256, so the id
is fixed when the packet is built; a socket sends its packets in order and never reuses an id
that is still outstanding. Two ways to drive a server:

  closed loop  (rate=None)  at most `window` requests outstanding per socket; the next one goes
                            out when a reply comes back: saturation throughput
  open loop    (rate=R)     packet i is due at start + i/R whatever the replies: latency at a
                            fixed offered load (bounded by `window` outstanding per socket)

A request unanswered after `timeout` is sent again (same bytes, as a router does), up to
`retries` times; its latency runs from the first send, which is what a router waits.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import select
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from radius.mschap import mschap2

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT = 1, 2, 3
ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
CODE_NAMES = {ACCESS_ACCEPT: "accept", ACCESS_REJECT: "reject", ACCOUNTING_RESPONSE: "ack"}

# Attribute numbers (RFC 2865/2866/2869) and the MikroTik vendor.
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS, NAS_PORT, SERVICE_TYPE = 1, 2, 4, 5, 6
FRAMED_IP_ADDRESS, CLASS, CALLED_STATION_ID, CALLING_STATION_ID = 8, 25, 30, 31
NAS_IDENTIFIER, ACCT_STATUS_TYPE, ACCT_DELAY_TIME, ACCT_INPUT_OCTETS = 32, 40, 41, 42
ACCT_OUTPUT_OCTETS, ACCT_SESSION_ID, ACCT_AUTHENTIC, ACCT_SESSION_TIME = 43, 44, 45, 46
ACCT_INPUT_PACKETS, ACCT_OUTPUT_PACKETS, ACCT_INPUT_GIGAWORDS = 47, 48, 52
ACCT_OUTPUT_GIGAWORDS, NAS_PORT_TYPE, MESSAGE_AUTHENTICATOR, NAS_PORT_ID = 53, 61, 80, 87
VENDOR_SPECIFIC, MIKROTIK, MIKROTIK_HOST_IP = 26, 14988, 10
START, STOP, INTERIM_UPDATE = 1, 2, 3
FRAMED_PROTOCOL, MICROSOFT, MS_CHAP_CHALLENGE, MS_CHAP2_RESPONSE = 7, 311, 11, 25


def attr(kind: int, value: bytes | str | int) -> bytes:
    """One attribute: str as UTF-8, int as a 32-bit integer, bytes as they are."""
    if isinstance(value, str):
        value = value.encode()
    elif isinstance(value, int):
        value = struct.pack("!I", value)
    return struct.pack("!BB", kind, len(value) + 2) + value


def vsa(vendor: int, kind: int, value: bytes | str | int) -> bytes:
    return attr(VENDOR_SPECIFIC, struct.pack("!I", vendor) + attr(kind, value))


def ipv4(address: str) -> bytes:
    return socket.inet_aton(address)


def encrypt_password(password: str, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding (RFC 2865 5.2): 16-byte blocks XORed with chained MD5s."""
    data = password.encode() or b"\0"
    data += b"\0" * (-len(data) % 16)
    out, last = b"", authenticator
    for i in range(0, len(data), 16):
        key = hashlib.md5(secret + last).digest()  # noqa: S324 (the protocol's own hash)
        last = bytes(a ^ b for a, b in zip(data[i : i + 16], key, strict=True))
        out += last
    return out


def access_request(ident: int, secret: bytes, password: str | None, attrs: list[bytes]) -> bytes:
    """Access-Request with PAP (unless `password` is None: the attributes carry the method) and
    a Message-Authenticator (RouterOS sends one, and a server that requires it, as Blast-RADIUS
    mitigations do, pays the HMAC on every request)."""
    authenticator = os.urandom(16)
    body = b""
    if password is not None:
        body = attr(USER_PASSWORD, encrypt_password(password, secret, authenticator))
    body += b"".join(attrs) + attr(MESSAGE_AUTHENTICATOR, bytes(16))
    header = struct.pack("!BBH", ACCESS_REQUEST, ident, 20 + len(body)) + authenticator
    mac = hmac.new(secret, header + body, "md5").digest()
    return header + body[:-16] + mac


def accounting_request(ident: int, secret: bytes, attrs: list[bytes]) -> bytes:
    """Accounting-Request: Request Authenticator = MD5(code+id+length+16 zeros+attrs+secret)."""
    body = b"".join(attrs)
    header = struct.pack("!BBH", ACCOUNTING_REQUEST, ident, 20 + len(body))
    digest = hashlib.md5(header + bytes(16) + body + secret).digest()  # noqa: S324
    return header + digest + body


def ident_of(index: int, sockets: int) -> int:
    """The RADIUS id packet `index` of a run carries (see the module docstring)."""
    return (index // sockets) % 256


@dataclass
class Run:
    sent: int
    elapsed_s: float
    latencies_ms: list[float]
    codes: Counter = field(default_factory=Counter)
    lost: int = 0  # no valid reply after every retry
    retransmits: int = 0
    bad_replies: int = 0  # wrong Response Authenticator or unknown id
    generator_cpu_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.sent / self.elapsed_s

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(len(lat) * q))] if lat else float("nan")

    @property
    def generator_us(self) -> float:
        return self.generator_cpu_s / max(self.sent, 1) * 1e6

    @classmethod
    def joined(cls, runs: list[Run]) -> Run:
        """Runs made one after another, as one run: their requests, time and answers added."""
        return cls(
            sum(r.sent for r in runs),
            sum(r.elapsed_s for r in runs),
            [ms for r in runs for ms in r.latencies_ms],
            sum((r.codes for r in runs), Counter()),
            sum(r.lost for r in runs),
            sum(r.retransmits for r in runs),
            sum(r.bad_replies for r in runs),
            sum(r.generator_cpu_s for r in runs),
        )


class Blaster:
    """Sends pre-built packets to one server from `sockets` UDP sockets bound to `source`."""

    retries = 2

    def __init__(
        self,
        server: tuple[str, int],
        source: str,
        secret: bytes,
        sockets: int = 4,
        timeout: float = 2.0,
    ) -> None:
        self.server, self.secret = server, secret
        self.timeout_ns = int(timeout * 1e9)
        self.socks = []
        for _ in range(sockets):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind((source, 0))
            sock.connect(server)
            sock.setblocking(False)
            self.socks.append(sock)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def run(self, packets: list[bytes], window: int = 8, rate: float | None = None) -> Run:
        """Send every packet (built with ident_of(i, sockets)) and wait for all replies."""
        assert window <= 256
        poller = select.epoll()
        by_fd = {s.fileno(): k for k, s in enumerate(self.socks)}
        for s in self.socks:
            poller.register(s.fileno(), select.EPOLLIN)
        flight = _Flight(packets, len(self.socks), rate)
        cpu_start = time.process_time()
        next_check = flight.start + self.timeout_ns // 4
        while flight.done < len(packets):
            self._send(flight, window)
            for fd, _ in poller.poll(flight.wait()):
                self._receive(flight, by_fd[fd])
            now = time.perf_counter_ns()
            if now >= next_check:
                next_check = now + self.timeout_ns // 4
                self._retry(flight, now)
        elapsed = (time.perf_counter_ns() - flight.start) / 1e9
        cpu = time.process_time() - cpu_start
        poller.close()
        return Run(
            len(packets), elapsed, flight.latencies, flight.codes, flight.lost,
            flight.retransmits, flight.bad, cpu,
        )  # fmt: skip

    def _send(self, f: _Flight, window: int) -> None:
        """Each socket sends its next packets while its window has room (and, at a fixed
        rate, they are due) and their id is free."""
        now = time.perf_counter_ns()
        total, n_socks = len(f.packets), len(self.socks)
        for k, sock in enumerate(self.socks):
            waiting, i = f.pending[k], f.next[k]
            while i < total and len(waiting) < window:
                if f.interval_ns and f.start + i * f.interval_ns > now:
                    break
                ident = (i // n_socks) % 256
                if ident in waiting:  # the id's earlier packet is still out
                    break
                sock.send(f.packets[i])
                waiting[ident] = [i, now, now, 1]
                i += n_socks
            f.next[k] = i

    def _receive(self, f: _Flight, k: int) -> None:
        """Every reply waiting on socket k, checked against its request."""
        waiting, sock, secret = f.pending[k], self.socks[k], self.secret
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return
            entry = waiting.get(data[1]) if len(data) >= 20 else None
            if entry is None:
                f.bad += 1  # a late duplicate of an answered retransmission, or junk
                continue
            request = f.packets[entry[0]]
            check = hashlib.md5(data[:4] + request[4:20] + data[20:] + secret).digest()  # noqa: S324
            if check != data[4:20]:
                f.bad += 1
                continue
            f.latencies.append((time.perf_counter_ns() - entry[1]) / 1e6)
            f.codes[data[0]] += 1
            del waiting[data[1]]
            f.done += 1

    def _retry(self, f: _Flight, now: int) -> None:
        """Send again what has waited `timeout`; give up after `retries` retransmissions."""
        for k, waiting in enumerate(f.pending):
            for ident, entry in list(waiting.items()):
                if now - entry[2] < self.timeout_ns:
                    continue
                if entry[3] > self.retries:
                    del waiting[ident]
                    f.lost += 1
                    f.done += 1
                else:
                    self.socks[k].send(f.packets[entry[0]])
                    entry[2], entry[3] = now, entry[3] + 1
                    f.retransmits += 1


class _Flight:
    """The state of one run: what each socket sends next, and what is outstanding by id
    (id -> [packet index, first sent ns, last sent ns, tries])."""

    def __init__(self, packets: list[bytes], sockets: int, rate: float | None) -> None:
        self.packets = packets
        self.next = list(range(sockets))
        self.pending: list[dict[int, list[int]]] = [{} for _ in range(sockets)]
        self.interval_ns = int(1e9 / rate) if rate else 0
        self.latencies: list[float] = []
        self.codes: Counter = Counter()
        self.done = self.lost = self.retransmits = self.bad = 0
        self.start = time.perf_counter_ns()

    def wait(self) -> float:
        """How long to wait for replies: at a fixed rate, until the next packet is due; if it
        is overdue, a full window or a busy id holds it back, so wait a little, not spin."""
        if not self.interval_ns:
            return 0.01
        due = self.start + min(self.next) * self.interval_ns
        now = time.perf_counter_ns()
        return min((due - now) / 1e9, 0.01) if due > now else 0.0005


def hotspot_login(ident: int, secret: bytes, router: str, code: str, mac: str, n: int) -> bytes:
    """An Access-Request shaped like a RouterOS hotspot login (PAP)."""
    return access_request(
        ident,
        secret,
        code,
        [
            attr(USER_NAME, code),
            attr(SERVICE_TYPE, 1),  # Login-User
            attr(CALLING_STATION_ID, mac),
            attr(CALLED_STATION_ID, "hotspot1"),
            attr(NAS_PORT_TYPE, 19),  # Wireless-802.11
            attr(NAS_PORT, 0x80000000 + n % 65536),
            attr(NAS_PORT_ID, "bridge1"),
            attr(ACCT_SESSION_ID, f"{0x80000000 + n % 65536:x}"),
            attr(FRAMED_IP_ADDRESS, ipv4(f"10.5.{n >> 8 & 255}.{n & 255}")),
            vsa(MIKROTIK, MIKROTIK_HOST_IP, ipv4(f"10.5.{n >> 8 & 255}.{n & 255}")),
            attr(NAS_IDENTIFIER, "MikroTik"),
            attr(NAS_IP_ADDRESS, ipv4(router)),
        ],
    )


def pppoe_mschap2_login(
    ident: int, secret: bytes, router: str, username: str, password: str, n: int
) -> bytes:
    """An Access-Request shaped like RouterOS's PPPoE server's with MS-CHAPv2 (its first choice):
    the challenge and response computed per RFC 2759 (radius/mschap.py)."""
    chap = mschap2(username, password)
    return access_request(
        ident,
        secret,
        None,
        [
            attr(USER_NAME, username),
            attr(SERVICE_TYPE, 2),  # Framed-User
            attr(FRAMED_PROTOCOL, 1),  # PPP
            attr(NAS_PORT_TYPE, 15),  # Ethernet
            attr(NAS_PORT, 0x00F00000 + n % 65536),
            attr(NAS_PORT_ID, "ether2"),
            attr(
                CALLING_STATION_ID, f"4C:5E:0C:{n >> 16 & 255:02X}:{n >> 8 & 255:02X}:{n & 255:02X}"
            ),
            attr(CALLED_STATION_ID, "pppoe-service"),
            attr(NAS_IDENTIFIER, "MikroTik"),
            attr(NAS_IP_ADDRESS, ipv4(router)),
            vsa(MICROSOFT, MS_CHAP_CHALLENGE, bytes.fromhex(chap["MS-CHAP-Challenge"][2:])),
            vsa(MICROSOFT, MS_CHAP2_RESPONSE, bytes.fromhex(chap["MS-CHAP2-Response"][2:])),
        ],
    )


def hotspot_accounting(
    ident: int,
    secret: bytes,
    router: str,
    status: int,
    code: str,
    mac: str,
    session_id: str,
    seconds: int = 0,
    octets_in: int = 0,
    octets_out: int = 0,
) -> bytes:
    """An Accounting-Request shaped like RouterOS's (Start, Interim-Update or Stop)."""
    attrs = [
        attr(ACCT_STATUS_TYPE, status),
        attr(USER_NAME, code),
        attr(ACCT_SESSION_ID, session_id),
        attr(CALLING_STATION_ID, mac),
        attr(CALLED_STATION_ID, "hotspot1"),
        attr(NAS_PORT_TYPE, 19),
        attr(NAS_PORT_ID, "bridge1"),
        attr(FRAMED_IP_ADDRESS, ipv4("10.5.0.1")),
        attr(ACCT_AUTHENTIC, 1),
        attr(ACCT_DELAY_TIME, 0),
        attr(NAS_IDENTIFIER, "MikroTik"),
        attr(NAS_IP_ADDRESS, ipv4(router)),
    ]
    if status != START:
        attrs += [
            attr(ACCT_SESSION_TIME, seconds),
            attr(ACCT_INPUT_OCTETS, octets_in & 0xFFFFFFFF),
            attr(ACCT_INPUT_GIGAWORDS, octets_in >> 32),
            attr(ACCT_OUTPUT_OCTETS, octets_out & 0xFFFFFFFF),
            attr(ACCT_OUTPUT_GIGAWORDS, octets_out >> 32),
            attr(ACCT_INPUT_PACKETS, octets_in // 1000 & 0xFFFFFFFF),
            attr(ACCT_OUTPUT_PACKETS, octets_out // 1000 & 0xFFFFFFFF),
        ]
    return accounting_request(ident, secret, attrs)
