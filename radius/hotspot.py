"""A MikroTik hotspot's web side, simulated for browser tests: the router's own login page (the
ISP's login.html from the API, with RouterOS's `$(name)` variables filled in), the login the
portal posts to, and the RADIUS exchange that decides it (pyrad, from the router's address with
its secret, packets shaped like RouterOS's). `start()` it, send the browser to `login_url` (a
phone's first request behind the hotspot), then read `logins` and `rejects`.

Logins: POST /login (username, password, dst, popup) as the portal's JavaScript sends it, or
GET /login?username=&password= (RouterOS's HTTP PAP, for the no-JavaScript flow). With
`chap=True` each login page carries a fresh CHAP id and challenge; a 32-hex-digit password is
the CHAP response to the last one issued, anything else PAP (login-by=http-chap,http-pap)."""

from __future__ import annotations

import asyncio
import html
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

DICTIONARY = Path(__file__).with_name("dictionary")
LOGIN_USER = 1  # Service-Type
WIRELESS_80211 = 19  # NAS-Port-Type
ACCT_START = 1  # Acct-Status-Type
_VARIABLE = re.compile(r"\$\(([a-z-]+)\)")
_CHAP_RESPONSE = re.compile(r"[0-9a-fA-F]{32}")


@dataclass(frozen=True)
class SimRouter:
    """A router as FreeRADIUS knows it: its identity, the address its packets come from (a row
    of the `router` table; its hotspot pages are served there too) and its RADIUS secret."""

    identity: str
    address: str
    secret: str


@dataclass(frozen=True)
class Phone:
    mac: str = "AA:BB:CC:DD:EE:01"
    ip: str = "10.5.50.10"


@dataclass(frozen=True)
class Login:
    """One Access-Accept (or, in `rejects`, Access-Reject) the router received."""

    code: str
    mac: str
    method: str  # "chap" or "pap"
    session_id: str = ""  # Acct-Session-Id
    session_timeout: int | None = None
    rate_limit: str | None = None
    reason: str | None = None  # Reply-Message


def octal(data: bytes) -> str:
    """How RouterOS writes $(chap-id) and $(chap-challenge): `\\ooo` per byte."""
    return "".join(f"\\{b:03o}" for b in data)


def fill(page: str, values: dict[str, str]) -> str:
    """RouterOS's `$(name)` substitution; unknown variables become empty, as on the router."""
    return _VARIABLE.sub(lambda m: html.escape(values.get(m.group(1), ""), quote=True), page)


def _first(reply: packet.Packet, name: str) -> Any:
    values = reply.get(name)
    return values[0] if values else None


@dataclass(kw_only=True)
class HotspotSimulator:
    """One router's hotspot with one phone behind it, served from a thread of its own."""

    portal: str  # the ISP's portal, e.g. http://<slug>.mnetifi.com:18000/hotspotportal
    router: SimRouter
    radius: tuple[str, int]  # FreeRADIUS host and auth port
    acct_port: int | None = None  # if set, an Accounting Start follows each Access-Accept
    phone: Phone = field(default_factory=Phone)
    chap: bool = True
    link_orig: str = "http://neverssl.com/"
    connect_to: str = "127.0.0.1"  # where the portal's host name resolves for the fetch
    logins: list[Login] = field(default_factory=list)
    rejects: list[Login] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pages: dict[str, str] = {}
        self._chap_id, self._challenge = b"", b""  # the last ones issued
        self._dictionary = Dictionary(str(DICTIONARY))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.app = Starlette(
            routes=[
                Route("/", self.login_page),
                Route("/login", self.login_page, methods=["GET"]),
                Route("/login", self.login_post, methods=["POST"]),
            ]
        )

    @property
    def url(self) -> str:
        return f"http://{self.router.address}:{self.port}"

    @property
    def login_url(self) -> str:
        return f"{self.url}/login"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> HotspotSimulator:
        """Fetches the ISP's pages, waits until FreeRADIUS knows the router, then serves on a
        free port of the router's address from a thread of its own (blocking: call it through
        asyncio.to_thread from async code)."""
        self._fetch_pages()
        self.warm_up()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.router.address, 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the hotspot simulator did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        self._server = self._thread = None

    def _fetch_pages(self) -> None:
        parts = urlsplit(self.portal)
        origin = f"{parts.scheme}://{self.connect_to}:{parts.port or 80}"
        with httpx.Client(base_url=origin, headers={"host": parts.netloc}, timeout=10) as http:
            for name in ("login", "alogin"):
                response = http.get(f"{parts.path}/mikrotik/{name}.html")
                response.raise_for_status()
                self._pages[name] = response.text

    # ------------------------------------------------------------ RADIUS
    def _client(self, timeout: float = 2.0, retries: int = 3) -> Client:
        host, port = self.radius
        client = Client(
            server=host,
            authport=port,
            acctport=self.acct_port or 0,
            secret=self.router.secret.encode(),
            dict=self._dictionary,
            timeout=timeout,
            retries=retries,
        )
        client.bind((self.router.address, 0))
        return client

    def warm_up(self) -> None:
        """FreeRADIUS drops a new router's first packet while it looks the router up (dynamic
        clients, at most one new one per second): Status-Server until it answers."""
        client = self._client(timeout=0.5, retries=20)
        for _ in range(3):
            try:
                reply = client.SendPacket(client.CreateAuthPacket(code=packet.StatusServer))
            except Timeout:
                continue
            if reply.code == packet.AccessAccept:
                return
        raise RuntimeError(f"FreeRADIUS never answered router {self.router.address}")

    def authenticate(self, code: str, password: str) -> tuple[bool, Login]:
        """One hotspot Access-Request (attributes as RouterOS sends them); records the answer."""
        client, session_id = self._client(), secrets.token_hex(4)
        request = client.CreateAuthPacket(code=packet.AccessRequest)
        for name, value in self._session_attrs(code, session_id).items():
            request[name] = value
        request["Service-Type"] = LOGIN_USER
        method = "pap"
        if self.chap and self._challenge and _CHAP_RESPONSE.fullmatch(password):
            method = "chap"
            request["CHAP-Password"] = self._chap_id + bytes.fromhex(password)
            request["CHAP-Challenge"] = self._challenge
        else:
            request["User-Password"] = request.PwCrypt(password)
        try:
            reply = client.SendPacket(request)
        except Timeout:
            return False, Login(code, self.phone.mac, method, reason="RADIUS server not responding")
        login = Login(
            code=code,
            mac=self.phone.mac,
            method=method,
            session_id=session_id,
            session_timeout=_first(reply, "Session-Timeout"),
            rate_limit=_first(reply, "Mikrotik-Rate-Limit"),
            reason=_first(reply, "Reply-Message"),
        )
        accepted = reply.code == packet.AccessAccept
        if accepted and self.acct_port:
            self.account(client, login, ACCT_START)
        (self.logins if accepted else self.rejects).append(login)
        return accepted, login

    def account(self, client: Client, login: Login, status: int) -> None:
        """An Accounting-Request for a session, as RouterOS sends once the phone is let in."""
        request = client.CreateAcctPacket()
        for name, value in self._session_attrs(login.code, login.session_id).items():
            request[name] = value
        request["Acct-Status-Type"] = status
        client.SendPacket(request)

    def _session_attrs(self, code: str, session_id: str) -> dict[str, Any]:
        """What RouterOS's hotspot puts in every packet about a session."""
        return {
            "User-Name": code,
            "Calling-Station-Id": self.phone.mac,
            "Called-Station-Id": "hotspot1",
            "NAS-Identifier": self.router.identity,
            "NAS-Port-Type": WIRELESS_80211,
            "NAS-Port-Id": "bridge-hotspot",
            "Acct-Session-Id": session_id,
            "Framed-IP-Address": self.phone.ip,
        }

    # ------------------------------------------------------------ the hotspot's pages
    def _variables(self, **extra: str) -> dict[str, str]:
        return {
            "identity": self.router.identity,
            "mac": self.phone.mac,
            "ip": self.phone.ip,
            "link-login-only": self.login_url,
            "link-login": self.login_url,
            "link-logout": f"{self.url}/logout",
            "link-orig": self.link_orig,
            "chap-id": octal(self._chap_id),
            "chap-challenge": octal(self._challenge),
            **extra,
        }

    def _login_page(self, error: str = "") -> HTMLResponse:
        if self.chap:  # a fresh challenge with every page, like RouterOS
            self._chap_id, self._challenge = secrets.token_bytes(1), secrets.token_bytes(16)
        page = fill(self._pages["login"], self._variables(error=error))
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    async def login_page(self, request: Request) -> HTMLResponse:
        username = request.query_params.get("username")
        if username is not None:  # HTTP PAP on GET
            return await self._login(username, request.query_params.get("password", ""))
        return self._login_page(request.query_params.get("error", ""))

    async def login_post(self, request: Request) -> HTMLResponse:
        form = await request.form()
        return await self._login(str(form.get("username", "")), str(form.get("password", "")))

    async def _login(self, username: str, password: str) -> HTMLResponse:
        accepted, login = await asyncio.to_thread(self.authenticate, username, password)
        if not accepted:  # RouterOS shows the RADIUS reject reason on its login page
            return self._login_page(login.reason or "invalid username or password")
        page = fill(self._pages["alogin"], self._variables(username=username))
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
