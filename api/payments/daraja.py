"""Safaricom Daraja: the STK push request as Daraja wants it, and an OAuth token per consumer key.

Wire formats and pitfalls: ../shared/reference/mpesa-and-messaging.md sections 1-2. Daraja
invalidates a consumer key's previous token when a new one is issued, so every process shares
one token per key through Redis and refreshes it single-flight.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import httpx
from redis.asyncio import Redis

from api.phones import normalize_phone

HOSTS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
}
NAIROBI = timezone(timedelta(hours=3), "EAT")  # no daylight saving
MAX_AMOUNT = 250_000  # KES per transaction
TOKEN_MARGIN = 60  # seconds before expiry a token counts as expired
TIMEOUT = 15  # seconds for each call to Daraja
PENDING = "500.001.1001"  # STK Query while the customer has not answered yet
INVALID_TOKEN = "404.001.03"  # noqa: S105 (Daraja's error code, not a secret)
_UNSAFE = re.compile(r"[^A-Za-z0-9 ]")


def base_url(environment: str, override: str | None = None) -> str:
    """Where an ISP's Daraja calls go: the configured override (the fake), else its host."""
    return (override or HOSTS[environment]).rstrip("/")


class DarajaError(Exception):
    """Daraja refused a request or could not be reached; `code` is its errorCode if any."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


def clean_text(text: str, limit: int) -> str:
    """AccountReference (12) and TransactionDesc (13): letters, digits and spaces only (others
    make pushes fail silently), cut to Daraja's limit."""
    return " ".join(_UNSAFE.sub("", text).split())[:limit].strip()


def timestamp(now: datetime | None = None) -> str:
    """Daraja's Timestamp, in Nairobi time (pushes stamped in another zone are refused)."""
    return (now or datetime.now(UTC)).astimezone(NAIROBI).strftime("%Y%m%d%H%M%S")


def stk_password(shortcode: str, passkey: str, stamp: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{stamp}".encode()).decode()


@dataclass(frozen=True)
class Account:
    """What a push needs of an ISP's Daraja account (decrypted, in memory only)."""

    environment: Literal["sandbox", "production"]
    account_type: Literal["paybill", "till"]
    shortcode: str  # paybill, or the till's store number
    till_number: str | None
    consumer_key: str
    consumer_secret: str
    passkey: str


def stk_push_body(
    account: Account,
    *,
    phone: str,
    amount: int,
    callback_url: str,
    reference: str,
    description: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The processrequest body: CustomerPayBillOnline to the paybill, or CustomerBuyGoodsOnline
    to the till number with the store number as BusinessShortCode."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be a whole number of shillings, 1 to {MAX_AMOUNT}")
    msisdn = normalize_phone(phone)
    stamp = timestamp(now)
    till = account.account_type == "till"
    if till and not account.till_number:
        raise ValueError("a till account needs its till number")
    return {
        "BusinessShortCode": account.shortcode,
        "Password": stk_password(account.shortcode, account.passkey, stamp),
        "Timestamp": stamp,
        "TransactionType": "CustomerBuyGoodsOnline" if till else "CustomerPayBillOnline",
        "Amount": amount,
        "PartyA": msisdn,
        "PartyB": account.till_number if till else account.shortcode,
        "PhoneNumber": msisdn,
        "CallBackURL": callback_url,
        "AccountReference": clean_text(reference, 12) or "WiFi",
        "TransactionDesc": clean_text(description, 13) or "WiFi",
    }


class TokenCache:
    """One access token per consumer key, shared by every process through Redis. A refresh is
    single-flight: one process asks Daraja while the others wait for its token."""

    def __init__(self, redis: Redis, http: httpx.AsyncClient, base_url: str):
        self.redis, self.http, self.base_url = redis, http, base_url.rstrip("/")

    @staticmethod
    def _key(account: Account) -> str:
        # The secret is part of the key: new credentials never reuse the old ones' token.
        raw = f"{account.environment}:{account.consumer_key}:{account.consumer_secret}"
        digest = hashlib.sha256(raw.encode())
        return "daraja:token:" + digest.hexdigest()[:32]

    async def get(self, account: Account, *, wait: float = 10.0) -> str:
        key = self._key(account)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            token = await self.redis.get(key)
            if token:
                return _text(token)
            if await self.redis.set(key + ":lock", "1", nx=True, ex=int(wait)):
                try:
                    return await self._fetch(account, key)
                finally:
                    await self.redis.delete(key + ":lock")
            if asyncio.get_running_loop().time() > deadline:
                raise DarajaError("timed out waiting for another process's Daraja token")
            await asyncio.sleep(0.05)

    async def invalidate(self, account: Account, token: str) -> None:
        """Forget a token Daraja refused (only if nobody replaced it meanwhile)."""
        key = self._key(account)
        current = await self.redis.get(key)
        if current is not None and _text(current) == token:
            await self.redis.delete(key)

    async def _fetch(self, account: Account, key: str) -> str:
        try:
            response = await self.http.get(
                f"{self.base_url}/oauth/v1/generate",
                params={"grant_type": "client_credentials"},
                auth=(account.consumer_key, account.consumer_secret),
            )
        except httpx.HTTPError as exc:
            raise DarajaError(f"Daraja unreachable: {type(exc).__name__}") from exc
        body = _json(response)
        if response.status_code != 200 or "access_token" not in body:
            raise DarajaError(
                body.get("errorMessage") or f"token request failed ({response.status_code})",
                body.get("errorCode"),
                response.status_code,
            )
        lifetime = int(str(body.get("expires_in", 3599)))  # documented as number and as string
        await self.redis.set(key, body["access_token"], ex=max(lifetime - TOKEN_MARGIN, 1))
        return str(body["access_token"])


def _text(value: bytes | str) -> str:
    """Redis answers bytes or str depending on the client's decode_responses."""
    return value.decode() if isinstance(value, bytes) else value


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Client:
    """Calls Daraja for one ISP's account; an invalid-token answer refreshes once and retries."""

    def __init__(self, tokens: TokenCache, account: Account):
        self.tokens, self.account = tokens, account

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        for attempt in (1, 2):
            token = await self.tokens.get(self.account)
            try:
                response = await self.tokens.http.post(
                    f"{self.tokens.base_url}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise DarajaError(f"Daraja unreachable: {type(exc).__name__}") from exc
            data = _json(response)
            if data.get("errorCode") == INVALID_TOKEN and attempt == 1:
                await self.tokens.invalidate(self.account, token)
                continue
            if response.status_code != 200 or "errorCode" in data:
                raise DarajaError(
                    data.get("errorMessage") or f"Daraja answered {response.status_code}",
                    data.get("errorCode"),
                    response.status_code,
                )
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    async def stk_push(self, **kwargs: Any) -> dict[str, Any]:
        return await self.post(
            "/mpesa/stkpush/v1/processrequest", stk_push_body(self.account, **kwargs)
        )

    async def stk_query(
        self, checkout_request_id: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """M-Pesa Express Query. While the prompt is open Daraja answers an error
        (500.001.1001, "being processed"): the caller treats that as pending, not failure."""
        stamp = timestamp(now)
        body = {
            "BusinessShortCode": self.account.shortcode,
            "Password": stk_password(self.account.shortcode, self.account.passkey, stamp),
            "Timestamp": stamp,
            "CheckoutRequestID": checkout_request_id,
        }
        return await self.post("/mpesa/stkpushquery/v1/query", body)
