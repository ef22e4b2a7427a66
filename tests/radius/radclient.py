"""radclient plays the MikroTik router: packets go out from the router's own source address
(Packet-Src-IP-Address) with its own secret, exactly as FreeRADIUS will see them in production."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from dataclasses import dataclass, field

RECEIVED = re.compile(r"^Received (\S+) Id \d+ from")
ATTRIBUTE = re.compile(r"^\s+([A-Za-z0-9-]+) = (.*)$")


@dataclass
class Reply:
    code: str | None  # "Access-Accept", "Access-Reject", "Accounting-Response" or None (silence)
    attrs: dict[str, str] = field(default_factory=dict)
    output: str = ""  # what radclient printed, for failure messages

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]


def _quote(value: str | int) -> str:
    if isinstance(value, int) or value.startswith("0x"):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def send(
    kind: str,
    attrs: dict[str, str | int],
    *,
    src: str,
    secret: str,
    retries: int = 3,
    timeout: float = 2.0,
) -> Reply:
    """Send one packet with radclient and parse the reply it prints."""
    port = os.environ["MNETIFI_RADIUS_ACCT_PORT" if kind == "acct" else "MNETIFI_RADIUS_AUTH_PORT"]
    lines = [f"{name} = {_quote(value)}" for name, value in attrs.items()]
    lines.append(f"Packet-Src-IP-Address = {src}")
    proc = subprocess.run(
        [
            "radclient",
            "-x",
            "-r",
            str(retries),
            "-t",
            str(timeout),
            "--",  # a secret may start with "-"
            f"127.0.0.1:{port}",
            kind,
            secret,
        ],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=retries * timeout + 10,
        check=False,
    )
    reply = Reply(code=None, output=proc.stdout[-2000:] + proc.stderr[-2000:])
    in_reply = False
    for line in proc.stdout.splitlines():
        if m := RECEIVED.match(line):
            reply.code, in_reply = m.group(1), True
        elif line.startswith("Sent "):
            in_reply = False
        elif in_reply and (m := ATTRIBUTE.match(line)):
            reply.attrs[m.group(1)] = m.group(2).strip('"')
    return reply


def warm_up(src: str, secret: str) -> None:
    """Wait until FreeRADIUS knows a router just added. Its first packet only triggers the
    dynamic-client lookup and is dropped, and FreeRADIUS looks up at most one new client per
    second; Status-Server gets an answer without going through the voucher policy."""
    for _ in range(3):
        reply = send(
            "status",
            {"Message-Authenticator": "0x00"},
            src=src,
            secret=secret,
            retries=20,
            timeout=0.5,
        )
        if reply.code == "Access-Accept":
            return
    raise AssertionError(f"FreeRADIUS never learned router {src}:\n{reply.output}")


def chap_attrs(code: str) -> dict[str, str | int]:
    """CHAP as the hotspot login page sends it, with the router's own CHAP-Challenge. Given the
    cleartext, radclient computes CHAP-Password = id + MD5(id + password + challenge) itself."""
    return {"CHAP-Password": code, "CHAP-Challenge": "0x" + secrets.token_bytes(16).hex()}


def hotspot_request(
    code: str, *, mac: str = "AA:BB:CC:DD:EE:01", chap: bool = False
) -> dict[str, str | int]:
    """An Access-Request shaped like RouterOS hotspot's (attributes from a real capture)."""
    attrs: dict[str, str | int] = {
        "User-Name": code,
        "Calling-Station-Id": mac,
        "Called-Station-Id": "hotspot1",
        "NAS-Identifier": "MikroTik",
        "NAS-Port-Type": "Wireless-802.11",
        "NAS-Port-Id": "bridge-hotspot",
        "Service-Type": "Login-User",
        "Acct-Session-Id": "80f00003",
        "Framed-IP-Address": "10.5.50.10",
    }
    attrs.update(chap_attrs(code) if chap else {"User-Password": code})
    return attrs


def accounting_request(
    code: str,
    status: str,
    *,
    session_id: str = "80f00001",
    mac: str = "AA:BB:CC:DD:EE:01",
    **extra: str | int,
) -> dict[str, str | int]:
    """An Accounting-Request shaped like RouterOS hotspot's."""
    return {
        "User-Name": code,
        "Acct-Status-Type": status,
        "Acct-Session-Id": session_id,
        "Calling-Station-Id": mac,
        "NAS-IP-Address": "10.0.0.1",
        "NAS-Identifier": "MikroTik",
        "Framed-IP-Address": "10.5.50.10",
        **extra,
    }
