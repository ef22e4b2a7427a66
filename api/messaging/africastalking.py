"""Africa's Talking bulk SMS, as it is on the wire (SDK africastalking-python SMS.py/Service.py,
docs.africastalking.com/sms/sending and /sms/deliveryreports):

    POST {base}/version1/messaging      (base: https://api.africastalking.com, sandbox
                                         https://api.sandbox.africastalking.com)
    apiKey: <key>   Accept: application/json   Content-Type: application/x-www-form-urlencoded
    username=...&to=%2B2547...&message=...&bulkSMSMode=1[&from=SENDER]

    201 {"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000",
         "Recipients": [{"statusCode": 101, "number": "+2547...", "status": "Success",
                         "cost": "KES 0.8000", "messageId": "ATXid_..."}]}}

Per recipient, statusCode 100 (Processed), 101 (Sent) and 102 (Queued) mean accepted; anything
else (401 RiskHold, 402 InvalidSenderId, 403 InvalidPhoneNumber, 404 UnsupportedNumberType,
405 InsufficientBalance, 406 UserInBlacklist, 407 CouldNotRoute, 409 DoNotDisturbRejection,
500 InternalServerError, 501 GatewayError, 502 RejectedByGateway) is a refusal whose `status`
names the reason. [unconfirmed: the full table is from memory of AT's docs, not re-read; the
rule "100-102 accepted, else refused" does not depend on it.] A wrong username or key is HTTP
401 with a plain-text body. Delivery reports come later as form POSTs to the callback URL set on
the AT dashboard: id, status (Sent, Submitted, Buffered, Rejected, Success, Failed), phoneNumber,
networkCode, failureReason (only with Rejected/Failed), retryCount.

The API key only ever goes into the header: it is in no log line and no exception text."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from api.messaging.wire import Outcome, ProviderError

ACCEPTED_CODES = frozenset({100, 101, 102})
SANDBOX_URL = "https://api.sandbox.africastalking.com"
LIVE_URL = "https://api.africastalking.com"


__all__ = ["ACCEPTED_CODES", "Account", "Outcome", "ProviderError", "parse_answer", "send"]


def unreachable(provider: str, exc: httpx.HTTPError) -> ProviderError:
    """The request failed on the way: temporary only when it surely never reached the provider
    (no connection); a timeout waiting for the answer may follow a message it took."""
    sure = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    return ProviderError(f"{provider} could not be reached ({type(exc).__name__})", temporary=sure)


@dataclass(frozen=True)
class Account:
    """Decrypted credentials, in memory only (repr hides the key)."""

    username: str
    api_key: str = field(repr=False)
    sender_id: str | None
    kind: str  # "isp" or "platform"


def parse_cost(text: str | None) -> tuple[Decimal | None, str | None]:
    """'KES 0.8000' -> (Decimal('0.8000'), 'KES'); anything else -> (None, None)."""
    currency, _, amount = (text or "").strip().partition(" ")
    try:
        value = Decimal(amount)
    except InvalidOperation:
        return None, None
    if not (len(currency) == 3 and currency.isalpha()) or not value.is_finite():
        return None, None
    return value, currency.upper()


def parse_answer(data: Any, to: str) -> Outcome:
    """The recipient `to` in AT's answer; raises ProviderError if the answer has no such entry."""
    try:
        recipients = data["SMSMessageData"]["Recipients"]
        entry = next(r for r in recipients if r.get("number") == to)
    except (KeyError, TypeError, StopIteration, AttributeError):
        message = data.get("SMSMessageData", {}).get("Message") if isinstance(data, dict) else None
        if isinstance(message, str) and message:
            # e.g. "InvalidSenderId": AT answers without recipients when the whole request fails
            raise ProviderError(
                f"Africa's Talking refused the message: {message[:200]}", temporary=False
            ) from None
        raise ProviderError(
            "Africa's Talking answered without this recipient", temporary=False
        ) from None
    code = entry.get("statusCode")
    code = code if isinstance(code, int) else None
    cost, currency = parse_cost(entry.get("cost"))
    message_id = entry.get("messageId")
    return Outcome(
        accepted=code in ACCEPTED_CODES,
        status=str(entry.get("status") or "Unknown")[:100],
        status_code=code,
        message_id=str(message_id)[:100] if message_id and message_id != "None" else None,
        cost=cost,
        currency=currency,
    )


async def send(
    http: httpx.AsyncClient, base_url: str, account: Account, to: str, body: str
) -> Outcome:
    # bulkSMSMode=1 as the SDK sends it (AT: "must be set to 1 for bulk messages").
    form = {"username": account.username, "to": to, "message": body, "bulkSMSMode": "1"}
    if account.sender_id:
        form["from"] = account.sender_id
    headers = {"apiKey": account.api_key, "Accept": "application/json"}
    url = base_url.rstrip("/") + "/version1/messaging"
    try:
        response = await http.post(url, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise unreachable("Africa's Talking", exc) from None
    if response.status_code == 401:
        raise ProviderError(
            "Africa's Talking refused the username or API key", status=response.status_code
        )
    if response.status_code >= 400:
        raise ProviderError(
            f"Africa's Talking answered HTTP {response.status_code}", status=response.status_code
        )
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(
            "Africa's Talking answered something that is not JSON", temporary=False
        ) from None
    return parse_answer(data, to)
