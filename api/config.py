"""Settings for every process (API, worker, CLI), read from MNETIFI_* environment variables."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.netaddr import networks

# Safaricom's published callback source addresses (developer portal "Callback and IP
# Whitelisting"), plus two older ones still seen in practice.
SAFARICOM_CALLBACK_IPS = (
    "196.201.214.200,196.201.214.206,196.201.213.114,196.201.214.207,196.201.214.208,"
    "196.201.213.44,196.201.212.127,196.201.212.138,196.201.212.129,196.201.212.136,"
    "196.201.212.74,196.201.212.69,196.201.212.128,196.201.212.132"
)
DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 (refused outside development)


@dataclass(frozen=True)
class RadiusServer:
    """A FreeRADIUS instance as routers reach it (an address: RouterOS takes no names there)."""

    host: str
    auth_port: int = 1812
    acct_port: int = 1813


def parse_radius_servers(text: str) -> tuple[RadiusServer, ...]:
    """'10.255.0.1, 10.255.0.2:1812:1813, [2001:db8::1]:1812' -> servers, in order. A missing
    authentication port is 1812, a missing accounting port the authentication port + 1. Raises
    ValueError naming a bad entry."""
    servers = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            ports = rest.removeprefix(":").split(":") if rest else []
        elif item.count(":") >= 2 and "." not in item.rpartition(":")[0]:
            host, ports = item, []  # IPv6 without brackets: an address alone
        else:
            host, *ports = item.split(":")
        try:
            address = str(ipaddress.ip_address(host))
            numbers = [int(p) for p in ports]
        except ValueError:
            raise ValueError(f"not host[:auth[:acct]] with an IP address: {item!r}") from None
        auth = numbers[0] if numbers else 1812
        acct = numbers[1] if len(numbers) > 1 else auth + 1
        if len(numbers) > 2 or not all(1 <= n <= 65535 for n in (auth, acct)):
            raise ValueError(f"bad ports in {item!r}")
        servers.append(RadiusServer(address, auth, acct))
    return tuple(servers)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MNETIFI_", env_file=None, extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Where this runs; production refuses development secrets."
    )
    database_url: str = Field(
        "postgresql+asyncpg://mnetifi@127.0.0.1:55432/mnetifi",
        description="SQLAlchemy URL of the PostgreSQL database (asyncpg driver).",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:56379/0", description="Redis for jobs, sessions, limits."
    )
    secret_key: SecretStr = Field(
        SecretStr(DEV_SECRET), description="Key for signing and for encrypting secrets at rest."
    )
    encryption_keys: SecretStr | None = Field(
        None,
        description="Comma-separated Fernet keys for secrets at rest (Daraja keys, SMS keys), "
        "newest first; without it one is derived from secret_key. Rotation: put a new key first, "
        "run `mnetifi secrets rotate`, then drop the old one.",
    )
    radius_password_key: SecretStr | None = Field(
        None,
        description="64 hex characters (32 bytes): the key subscribers' passwords are encrypted "
        "with at rest; FreeRADIUS holds the same key and decrypts in radius_authorize(). Unset: "
        "derived from secret_key (development only; production refuses it).",
    )
    daraja_url: str | None = Field(
        None,
        description="Daraja base URL for every ISP (the fake Daraja in dev and test); unset: "
        "each ISP's own environment (sandbox or production host).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Base URL at which Daraja reaches this API (callback URLs are built on it); "
        "HTTPS in production.",
    )
    callback_allowlist: str = Field(
        SAFARICOM_CALLBACK_IPS,
        description="Comma-separated addresses/networks Daraja callbacks may come from "
        "(Safaricom's published list by default).",
    )
    callback_ip_check: Literal["enforce", "log"] = Field(
        "enforce",
        description="enforce: callbacks from other addresses grant nothing; log: they are only "
        "flagged in the payment log.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses/networks of reverse proxies whose "
        "X-Forwarded-For is believed (callback allowlist, login limits, audit).",
    )
    at_url: str = Field(
        "https://api.africastalking.com",
        description="Africa's Talking base URL (sandbox: https://api.sandbox.africastalking.com; "
        "the fake in dev and test), for the platform's and every ISP's SMS.",
    )
    at_username: str | None = Field(
        None,
        description="The platform's Africa's Talking username (platform messages, and ISPs "
        "without an SMS account of their own).",
    )
    at_api_key: SecretStr | None = Field(
        None, description="The platform's Africa's Talking API key."
    )
    at_sender_id: str | None = Field(
        None,
        description="The platform's sender id or shortcode; unset: Africa's Talking's default.",
    )
    at_timeout: float = Field(
        10.0, description="Seconds to wait for Africa's Talking to accept a message."
    )
    at_whatsapp_url: str = Field(
        "https://chat.africastalking.com",
        description="Africa's Talking WhatsApp base URL (no sandbox exists; the fake in dev and "
        "test).",
    )
    meta_graph_url: str = Field(
        "https://graph.facebook.com",
        description="Meta Graph API base URL for the WhatsApp Cloud API (the fake in dev, test).",
    )
    meta_graph_version: str = Field(
        "v23.0", pattern=r"^v[0-9]{1,3}\.[0-9]$", description="Graph API version in its URLs."
    )
    message_max_attempts: int = Field(
        5,
        ge=1,
        le=20,
        description="Tries a notification gets when its provider fails temporarily (5xx, "
        "unreachable, rate limited) before it is recorded failed.",
    )
    message_retry_base: timedelta = Field(
        timedelta(seconds=30),
        description="Wait before the second try; each later one waits twice as long.",
    )
    message_retry_max: timedelta = Field(
        timedelta(hours=1), description="Longest wait between two tries of a message."
    )
    sms_callback_allowlist: str = Field(
        "",
        description="Comma-separated addresses/networks SMS delivery reports may come from; "
        "empty: any (Africa's Talking publishes no list; a report is only believed for a "
        "message id it gave us and the number we sent to).",
    )
    stk_debounce: timedelta = Field(
        timedelta(seconds=60),
        description="A repeat purchase from a phone with a push this recent and still open "
        "gets that push back instead of a new prompt.",
    )
    stk_pushes_per_phone: int = Field(
        5, description="Most STK pushes to one phone per stk_push_window (prompt spam guard)."
    )
    stk_push_window: timedelta = Field(timedelta(minutes=10), description="See above.")
    stk_query_after: timedelta = Field(
        timedelta(seconds=30),
        description="How long a push waits for its callback before the worker asks STK Query.",
    )
    stk_query_interval: timedelta = Field(
        timedelta(seconds=15), description="Between STK Query attempts for one push."
    )
    stk_give_up_after: timedelta = Field(
        timedelta(minutes=10),
        description="A push still unanswered this long is shown as failed; a later success "
        "callback still grants.",
    )
    claim_max_failures: int = Field(
        5,
        description="Wrong M-Pesa codes per device (client address + the MAC the router gave) "
        "per claim_window before a lockout; wrong voucher codes get twice as many.",
    )
    claim_window: timedelta = Field(timedelta(minutes=15), description="See above.")
    portal_address_ceiling: int = Field(
        10,
        description="A client address (every phone behind a hotspot's NAT) may fail this many "
        "times a device's budget of portal codes before all of it waits.",
    )
    coa_timeout: float = Field(
        1.0, description="Seconds before a Disconnect/CoA packet is resent to a router."
    )
    coa_retries: int = Field(2, description="Resends per round (the wait doubles each time).")
    coa_round_delays: str = Field(
        "5,30",
        description="Seconds before the 2nd, 3rd... round for a router that did not answer; "
        "after the last round the request is recorded as timed out.",
    )
    base_domain: str = Field("mnetifi.com", description="ISPs live on <slug>.<base_domain>.")
    radius_host: str = Field("127.0.0.1", description="FreeRADIUS address, for health checks.")
    radius_auth_port: int = Field(1812, description="FreeRADIUS authentication port.")
    radius_acct_port: int = Field(1813, description="FreeRADIUS accounting port.")
    radius_status_source: str = Field(
        "127.0.0.254", description="Source address of health-check Status-Server packets."
    )
    radius_status_secret: SecretStr = Field(
        SecretStr("mnetifi-status"), description="Secret of the localhost Status-Server client."
    )
    radius_servers: str = Field(
        "",
        description="FreeRADIUS instances routers use, in failover order (the generated RouterOS "
        "script lists each): comma-separated host[:auth[:acct]], IPv6 in brackets; empty: "
        "radius_host on radius_auth_port/radius_acct_port alone.",
    )
    coa_source: str | None = Field(
        None,
        description="Address Disconnect/CoA packets leave from: one of radius_servers, because "
        "RouterOS checks them with the secret of the /radius entry of that address; unset: the "
        "route's own address.",
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server for e-mail to staff.")
    smtp_port: int = Field(25, description="Its port (587 with starttls, 465 with tls).")
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none (only for a server on this machine), starttls or tls."
    )
    smtp_username: str = Field("", description="SMTP login, if the server wants one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field("", description="Sender address of e-mail; unset: noreply@base_domain.")
    smtp_from_name: str = Field("mnetifi", description="Sender name of e-mail.")
    smtp_timeout: float = Field(10.0, description="Seconds to wait for the SMTP server.")
    session_idle: timedelta = Field(
        timedelta(minutes=30), description="A staff session unused this long ends."
    )
    session_absolute: timedelta = Field(
        timedelta(hours=12),
        description="A staff session ends this long after its login, used or not.",
    )
    login_max_failures: int = Field(10, description="Failed logins per email+IP before a lockout.")
    login_lockout: timedelta = Field(
        timedelta(minutes=15), description="Window of the login limits."
    )
    login_account_max_failures: int = Field(
        50, description="Failed logins for one account from every address before a lockout."
    )
    login_address_max_failures: int = Field(
        30, description="Failed logins from one client address, any account, before a lockout."
    )
    password_checks_concurrent: int = Field(
        1,
        description="Password (argon2) checks one API process runs at once; the rest wait, so "
        "a flood of logins cannot take the CPU from the portal and payment callbacks.",
    )
    # 20 staff signing in at once must all be served (issue 13): at ~20 ms a check, 24 waiting
    # is half a second of queue at most.
    password_checks_waiting: int = Field(
        24, description="Logins that may wait for a check before more get 503 and Retry-After."
    )
    voucher_batch_max: int = Field(
        10_000, description="Most vouchers one generation call may create."
    )
    cpu_processes: int = Field(
        1, ge=1, description="Worker processes per API process for CPU-heavy pages (sheets)."
    )
    cpu_queue: int = Field(
        4, ge=0, description="Requests that may wait for such a worker; more get 429."
    )
    portal_streams_per_address: int = Field(
        20, ge=1, description="Live purchase status streams one client address may hold open."
    )
    portal_streams_total: int = Field(
        1000, ge=1, description="Live purchase status streams per API process."
    )
    dashboard_live_every: timedelta = Field(
        timedelta(seconds=5),
        description="How often the dashboard's live figures (online, money, routers) are re-read "
        "for each open dashboard.",
    )
    dashboard_stream_lifetime: timedelta = Field(
        timedelta(minutes=5),
        description="A dashboard's live stream closes after this long; the browser reconnects, "
        "and the reconnection is checked like any page request.",
    )
    dashboard_streams_per_person: int = Field(
        5, ge=1, description="Live dashboard streams one staff member may hold open (tabs)."
    )
    dashboard_streams_total: int = Field(
        200, ge=1, description="Live dashboard streams per API process."
    )
    portal_stream_lifetime: timedelta = Field(
        timedelta(minutes=10),
        description="A status stream closes after this long (a purchase is decided by then).",
    )
    max_body_bytes: int = Field(
        1 << 20,
        description="Largest request body accepted (bytes); bigger ones get 413 before they are "
        "read whole. Routes with a smaller limit of their own (logo, Daraja hooks) keep it.",
        ge=1024,
    )

    @field_validator("radius_servers")
    @classmethod
    def _radius_servers(cls, value: str) -> str:
        parse_radius_servers(value)  # raises ValueError naming the bad entry
        return value

    @field_validator("coa_source")
    @classmethod
    def _coa_source(cls, value: str | None) -> str | None:
        return str(ipaddress.ip_address(value)) if value else None

    def radius_server_list(self) -> tuple[RadiusServer, ...]:
        """The FreeRADIUS instances routers are told about, in the order they try them."""
        return parse_radius_servers(self.radius_servers) or (
            RadiusServer(self.radius_host, self.radius_auth_port, self.radius_acct_port),
        )

    @field_validator("radius_password_key")
    @classmethod
    def _hex_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.get_secret_value()):
            raise ValueError("must be 64 hex characters (32 random bytes)")
        return value

    @field_validator("callback_allowlist", "trusted_proxies", "sms_callback_allowlist")
    @classmethod
    def _networks(cls, value: str) -> str:
        networks(value)  # raises ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value()
            if key == DEV_SECRET or len(key) < 32:
                raise ValueError(
                    "MNETIFI_SECRET_KEY must be set to 32+ random characters in production"
                )
            if self.radius_password_key is None:
                raise ValueError(
                    "MNETIFI_RADIUS_PASSWORD_KEY must be set in production (FreeRADIUS has it too)"
                )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
