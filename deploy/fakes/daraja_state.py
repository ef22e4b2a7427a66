"""State of the fake Daraja server: the registry of apps, tokens, STK transactions, scenarios, the
request log and callback delivery. The HTTP surface lives in `deploy.fakes.daraja`."""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import string
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

EAT = timezone(timedelta(hours=3), "EAT")

# The public sandbox app data from Safaricom's documentation; the demo stack works without setup.
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
DEMO_CONSUMER_KEY = "demo-consumer-key"
DEMO_CONSUMER_SECRET = "demo-consumer-secret"  # noqa: S105 - public fixture credential
DEMO_STORE = "5000001"
DEMO_TILL = "6000001"
DEMO_STORE_PASSKEY = "demo-store-passkey"

# (ResultCode, ResultDesc) of every STK outcome; codes are ints in callbacks, strings in queries.
RESULTS: dict[str, tuple[int | str, str]] = {
    "success": (0, "The service request is processed successfully."),
    "insufficient_funds": (1, "The balance is insufficient for the transaction."),
    "user_cancel": (1032, "Request cancelled by user"),
    "timeout": (1037, "DS timeout user cannot be reached"),
    "wrong_pin": (2001, "The initiator information is invalid."),
    "misconfigured_till": ("SFC_IC0003", "The operator does not exist."),
}
# Scenarios beyond the plain outcomes: all end in success, but deliver differently.
SCENARIOS = set(RESULTS) | {
    "duplicate_sequential",
    "duplicate_concurrent",
    "late_callback",
    "no_callback",
    "query_contradicts",
}
MAGIC_PHONES: dict[str, str] = {
    "254700000001": "user_cancel",
    "254700000002": "timeout",
    "254700000003": "wrong_pin",
    "254700000004": "insufficient_funds",
    "254700000005": "misconfigured_till",
    "254700000006": "duplicate_sequential",
    "254700000007": "duplicate_concurrent",
    "254700000008": "late_callback",
    "254700000009": "no_callback",
    "254700000010": "query_contradicts",
}


@dataclass
class Shortcode:
    shortcode: str
    type: str  # "paybill" or "store" (a till's head office/store number)
    passkey: str
    tills: list[str] = field(default_factory=list)


@dataclass
class App:
    consumer_key: str
    consumer_secret: str
    shortcodes: dict[str, Shortcode]


@dataclass
class Config:
    callback_delay_ms: int = 50
    late_callback_delay_ms: int = 3000
    duplicate_count: int = 3
    token_ttl_seconds: int = 3599
    expires_in_as_string: bool = True  # the live sandbox sends "3599"; the docs show 3599
    invalidate_previous_token: bool = False  # Daraja FAQ: a new token invalidates the old one
    timestamp_skew_seconds: int | None = None  # None: only the format is checked
    callback_timeout_seconds: float = 10.0
    c2b_validation_timeout_seconds: float = 3.0


@dataclass
class StkTransaction:
    merchant_request_id: str
    checkout_request_id: str
    app_key: str
    shortcode: str
    phone: str
    amount: int
    callback_url: str
    scenario: str
    receipt: str | None = None
    result: tuple[int | str, str] | None = None  # None while the prompt is open
    callback: dict[str, Any] | None = None


def eat_now() -> datetime:
    return datetime.now(EAT)


def default_apps() -> dict[str, App]:
    paybill = Shortcode(SANDBOX_SHORTCODE, "paybill", SANDBOX_PASSKEY)
    store = Shortcode(DEMO_STORE, "store", DEMO_STORE_PASSKEY, [DEMO_TILL])
    return {
        DEMO_CONSUMER_KEY: App(
            DEMO_CONSUMER_KEY, DEMO_CONSUMER_SECRET, {s.shortcode: s for s in (paybill, store)}
        )
    }


class FakeDaraja:
    """Everything the fake remembers; `reset()` returns it to the seeded demo state."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self.http: httpx.AsyncClient | None = None
        self.reset()

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.config = Config()
        self.apps = default_apps()
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (consumer key, expiry)
        self.scenario_by_phone: dict[str, dict[str, Any]] = {}
        self.transactions: dict[str, StkTransaction] = {}
        self.c2b_urls: dict[str, dict[str, str]] = {}
        self.c2b_balance: dict[str, int] = {}
        self.receipts: set[str] = set()
        self.requests: list[dict[str, Any]] = []
        self.callbacks: list[dict[str, Any]] = []

    # ------------------------------------------------------------ ids
    def request_id(self) -> str:
        return f"{random.randint(1000, 9999)}-{random.randint(10**7, 10**8 - 1)}-{next(self._ids)}"  # noqa: S311

    def merchant_request_id(self) -> str:
        return f"{random.randint(10**4, 10**5 - 1)}-{random.randint(10**7, 10**8 - 1)}-1"  # noqa: S311

    def checkout_request_id(self) -> str:
        stamp = eat_now().strftime("%d%m%Y%H%M%S")
        return f"ws_CO_{stamp}{next(self._ids):06d}{random.randint(1000, 9999)}"  # noqa: S311

    def receipt(self) -> str:
        alphabet = string.ascii_uppercase + string.digits
        while True:
            value = secrets.choice(string.ascii_uppercase) + "".join(
                secrets.choice(alphabet) for _ in range(9)
            )
            if value not in self.receipts:
                self.receipts.add(value)
                return value

    # ------------------------------------------------------------ tokens
    def issue_token(self, consumer_key: str) -> str:
        if self.config.invalidate_previous_token:
            self.tokens = {t: v for t, v in self.tokens.items() if v[0] != consumer_key}
        token = secrets.token_urlsafe(21)
        self.tokens[token] = (consumer_key, time.monotonic() + self.config.token_ttl_seconds)
        return token

    def app_for_token(self, token: str) -> App | None:
        entry = self.tokens.get(token)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return self.apps.get(entry[0])

    # ------------------------------------------------------------ scenarios
    def take_scenario(self, phone: str) -> tuple[str, dict[str, Any]]:
        chosen = self.scenario_by_phone.get(phone)
        if chosen is not None:
            if chosen.get("once"):
                del self.scenario_by_phone[phone]
            return chosen["scenario"], dict(chosen.get("params") or {})
        return MAGIC_PHONES.get(phone, "success"), {}

    # ------------------------------------------------------------ background work
    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def post(
        self, kind: str, url: str, body: dict[str, Any], ref: str, wait: float | None = None
    ) -> dict[str, Any]:
        """POST one callback and record the attempt with our app's answer."""
        record: dict[str, Any] = {
            "id": len(self.callbacks) + 1,
            "kind": kind,
            "ref": ref,
            "url": url,
            "body": body,
            "started_at": time.time(),
            "status_code": None,
            "response": None,
            "error": None,
        }
        self.callbacks.append(record)
        assert self.http is not None  # noqa: S101 - created by the app's lifespan
        try:
            resp = await self.http.post(
                url, json=body, timeout=wait or self.config.callback_timeout_seconds
            )
            record["status_code"] = resp.status_code
            try:
                record["response"] = resp.json()
            except ValueError:
                record["response"] = resp.text
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["finished_at"] = time.time()
        return record

    def stk_callback_body(self, tx: StkTransaction) -> dict[str, Any]:
        code, desc = tx.result or RESULTS["success"]
        callback: dict[str, Any] = {
            "MerchantRequestID": tx.merchant_request_id,
            "CheckoutRequestID": tx.checkout_request_id,
            "ResultCode": code,
            "ResultDesc": desc,
        }
        if code == 0:
            paid_at = int(eat_now().strftime("%Y%m%d%H%M%S"))
            callback["CallbackMetadata"] = {
                "Item": [
                    {"Name": "Amount", "Value": float(tx.amount)},
                    {"Name": "MpesaReceiptNumber", "Value": tx.receipt},
                    {"Name": "Balance"},
                    {"Name": "TransactionDate", "Value": paid_at},
                    {"Name": "PhoneNumber", "Value": int(tx.phone)},
                ]
            }
        return {"Body": {"stkCallback": callback}}

    async def run_stk(self, tx: StkTransaction, params: dict[str, Any]) -> None:
        """Play the transaction's scenario: finish it, then deliver its callback(s)."""
        delay = params.get("delay_ms", self.config.callback_delay_ms) / 1000
        await asyncio.sleep(delay)
        outcome = tx.scenario if tx.scenario in RESULTS else "success"
        tx.result = RESULTS[outcome]
        if tx.result[0] == 0:
            tx.receipt = self.receipt()
        body = self.stk_callback_body(tx)
        tx.callback = body
        ref = tx.checkout_request_id
        if tx.scenario == "no_callback":
            return
        if tx.scenario == "late_callback":
            late = params.get("late_delay_ms", self.config.late_callback_delay_ms) / 1000
            await asyncio.sleep(late)
        count = int(params.get("count", self.config.duplicate_count))
        if tx.scenario == "duplicate_sequential":
            for _ in range(count):
                await self.post("stk", tx.callback_url, body, ref)
        elif tx.scenario == "duplicate_concurrent":
            await asyncio.gather(
                *(self.post("stk", tx.callback_url, body, ref) for _ in range(count))
            )
        else:
            await self.post("stk", tx.callback_url, body, ref)

    async def run_c2b(self, payment: dict[str, Any], urls: dict[str, str] | None) -> None:
        """Validation (if a URL is registered), then confirmation unless validation rejected it."""
        await asyncio.sleep(self.config.callback_delay_ms / 1000)
        if urls is None:
            return  # no URLs registered: M-Pesa simply completes the payment
        ref = payment["TransID"]
        complete = True
        if urls.get("ValidationURL"):
            wait = self.config.c2b_validation_timeout_seconds
            record = await self.post("c2b_validation", urls["ValidationURL"], payment, ref, wait)
            answer = record["response"] if isinstance(record["response"], dict) else None
            ok = record["status_code"] is not None and 200 <= record["status_code"] < 300
            if ok and answer is not None and "ResultCode" in answer:
                complete = str(answer["ResultCode"]) == "0"
                if answer.get("ThirdPartyTransID"):
                    payment["ThirdPartyTransID"] = str(answer["ThirdPartyTransID"])
            else:  # unreachable, slow or unreadable: Daraja applies the registered default
                complete = urls.get("ResponseType") == "Completed"
        if not complete:
            return
        shortcode = payment["BusinessShortCode"]
        balance = self.c2b_balance.get(shortcode, 0) + int(float(payment["TransAmount"]) * 100)
        self.c2b_balance[shortcode] = balance
        confirmation = dict(payment, OrgAccountBalance=f"{balance / 100:.2f}")
        await self.post("c2b_confirmation", urls["ConfirmationURL"], confirmation, ref)


state = FakeDaraja()


def mask_msisdn(phone: str) -> str:
    """C2B v2's masked MSISDN, e.g. 254708374149 -> '2547 ***** 149'."""
    return f"{phone[:4]} ***** {phone[-3:]}"
