"""Reading what Daraja sends us: STK callbacks and C2B validation/confirmation payloads.
Formats: ../shared/reference/mpesa-and-messaging.md sections 3 and 6.3. Anything that does not
parse is `Malformed`, with the reason kept in the payment log."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from api.payments.daraja import NAIROBI

RECEIPT = re.compile(r"^[A-Z0-9]{6,20}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_\-.]{1,80}$")
MAX_BODY = 64 * 1024


class Malformed(ValueError):
    """The payload is not what Daraja sends."""


@dataclass(frozen=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str  # numeric in callbacks, sometimes a string (SFC_IC0003): kept as text
    result_desc: str
    amount: Decimal | None = None
    receipt: str | None = None
    phone: str | None = None
    paid_at: datetime | None = None

    @property
    def success(self) -> bool:
        return self.result_code == "0"


@dataclass(frozen=True)
class C2BPayment:
    transaction_type: str
    receipt: str  # TransID
    amount: Decimal
    shortcode: str
    bill_ref: str
    phone: str  # masked (v2) or hashed (v1): never a usable number
    paid_at: datetime | None
    first_name: str


def load(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise Malformed(f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    except RecursionError:
        raise Malformed("not JSON: nested too deeply") from None
    if _has_nul(data):  # PostgreSQL text cannot hold it
        raise Malformed("a NUL character (\\u0000) in the body")
    if not isinstance(data, dict):
        raise Malformed("not a JSON object")
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _text(value: Any, name: str, limit: int = 200, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Malformed(f"{name} missing or not text")
    out = str(value).strip()
    if len(out) > limit:
        raise Malformed(f"{name} longer than {limit} characters")
    return out


def _amount(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise Malformed(f"{name} is not an amount")
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Malformed(f"{name} is not an amount: {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount > 1_000_000:
        raise Malformed(f"{name} out of range: {value!r}")
    return amount.quantize(Decimal("0.01"))


def _when(value: Any) -> datetime | None:
    """Daraja's yyyyMMddHHmmss (an int in STK callbacks, a string in C2B), Nairobi time."""
    if value in (None, ""):
        return None
    try:
        return datetime.strptime(str(value), "%Y%m%d%H%M%S").replace(tzinfo=NAIROBI)
    except ValueError:
        raise Malformed(f"bad transaction time {value!r}") from None


def receipt(value: Any, name: str = "MpesaReceiptNumber") -> str:
    out = _text(value, name, 20).upper()
    if not RECEIPT.match(out):
        raise Malformed(f"{name} is not an M-Pesa receipt: {value!r}")
    return out


def stk_callback(raw: bytes) -> StkCallback:
    data = load(raw)
    body = data.get("Body")
    callback = body.get("stkCallback") if isinstance(body, dict) else None
    if not isinstance(callback, dict):
        raise Malformed("no Body.stkCallback object")
    checkout = _text(callback.get("CheckoutRequestID"), "CheckoutRequestID", 80)
    merchant = _text(callback.get("MerchantRequestID"), "MerchantRequestID", 80)
    for name, value in (("CheckoutRequestID", checkout), ("MerchantRequestID", merchant)):
        if not _REQUEST_ID.match(value):
            raise Malformed(f"{name} has unexpected characters")
    code = _text(callback.get("ResultCode"), "ResultCode", 20)
    desc = _text(callback.get("ResultDesc", ""), "ResultDesc", 300, required=False)
    if code != "0":
        return StkCallback(merchant, checkout, code, desc)
    metadata = callback.get("CallbackMetadata")
    items = metadata.get("Item") if isinstance(metadata, dict) else None
    if not isinstance(items, list):
        raise Malformed("a success without CallbackMetadata.Item")
    # By name, never by position: the list varies (Balance often has no Value).
    values = {
        item["Name"]: item.get("Value")
        for item in items
        if isinstance(item, dict) and isinstance(item.get("Name"), str)
    }
    phone = _text(values.get("PhoneNumber"), "PhoneNumber", 15)
    if not phone.isdigit():
        raise Malformed("PhoneNumber is not a number")
    return StkCallback(
        merchant,
        checkout,
        code,
        desc,
        amount=_amount(values.get("Amount"), "Amount"),
        receipt=receipt(values.get("MpesaReceiptNumber")),
        phone=phone,
        paid_at=_when(values.get("TransactionDate")),
    )


def c2b_payment(raw: bytes) -> C2BPayment:
    data = load(raw)
    return C2BPayment(
        transaction_type=_text(
            data.get("TransactionType", ""), "TransactionType", 40, required=False
        ),
        receipt=receipt(data.get("TransID"), "TransID"),
        amount=_amount(data.get("TransAmount"), "TransAmount"),
        shortcode=_text(data.get("BusinessShortCode"), "BusinessShortCode", 20),
        bill_ref=_text(data.get("BillRefNumber"), "BillRefNumber", 40, required=False),
        phone=_text(data.get("MSISDN"), "MSISDN", 80, required=False),
        paid_at=_when(data.get("TransTime")),
        first_name=_text(data.get("FirstName"), "FirstName", 60, required=False),
    )


# What a customer reads when a payment fails, per Daraja result code (section 3.3).
REASONS: dict[str, str] = {
    "1": "Your M-Pesa balance is not enough for this package. Top up or pick a cheaper one.",
    "2": "M-Pesa declined the amount (below its minimum).",
    "3": "M-Pesa declined the amount (above your transaction limit).",
    "4": "This payment would pass your daily M-Pesa limit.",
    "8": "The ISP's M-Pesa account cannot receive more today. Please tell the ISP.",
    "17": "M-Pesa blocked a repeat of the same payment within 2 minutes. Wait, then try again.",
    "1001": "Another M-Pesa transaction is in progress on your phone. Finish it, then retry.",
    "1019": "The M-Pesa prompt expired before it was answered. Try again.",
    "1025": "M-Pesa could not send the prompt. Try again.",
    "1031": "You cancelled the M-Pesa prompt. Tap Pay to try again.",
    "1032": "You cancelled the M-Pesa prompt. Tap Pay to try again.",
    "1037": "We could not reach your phone. Check it is on and unlocked, then try again.",
    "2001": "The M-Pesa PIN was wrong. Try again.",
    "2028": "The ISP's M-Pesa account is set up wrongly. Please tell the ISP.",
    "8006": "Your M-Pesa PIN is locked. Call Safaricom on 100 or 200.",
    "9999": "M-Pesa could not send the prompt. Try again.",
    "SFC_IC0003": "The ISP's M-Pesa till is set up wrongly. Please tell the ISP.",
    "no_answer": "M-Pesa did not confirm this payment in time. If money left your account, "
    "enter the M-Pesa code from your SMS to get your voucher.",
    "push_refused": "M-Pesa did not accept the payment request. Try again in a moment.",
}
# Codes that mean the ISP's own setup is wrong: the customer cannot fix them by retrying.
MISCONFIGURED = {"8", "2028", "SFC_IC0003"}


def reason(code: str | None, desc: str | None = None) -> str:
    if code is None:
        return "Waiting for you to confirm on your phone."
    return REASONS.get(code) or f"M-Pesa did not complete the payment ({desc or code})."
