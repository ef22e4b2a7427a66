"""Africa's Talking WhatsApp (a gateway to WhatsApp Business for ISPs that Meta has not yet
approved on their own), as it is on the wire. From AT's Python SDK (Whatsapp.py @ 1c913f6):

    POST {base}/whatsapp/message/send          (base https://chat.africastalking.com; AT has
                                                no sandbox for WhatsApp)
    apiKey: <key>   Accept: application/json   Content-Type: application/json
    {"username": "...", "waNumber": "+2547...", "phoneNumber": "+2547...",
     "body": {"message": "text"}}

[unconfirmed: the answer's shape. The SDK returns it untouched and we found no sample; we read
a message id from `messageId` (or `id`, or `data.messageId`), a status word from `status`, and a
cost from `cost` ("KES 0.5000") when present.] A wrong username or key is HTTP 401 like AT's
other APIs; a 4xx is a refusal of this message, a 5xx or no connection is temporary.

Status callbacks [unconfirmed: AT's chat status callback is set on its dashboard like the SMS
delivery reports; we take JSON {"id" (the messageId), "status" (Sent, Delivered, Read, Failed),
"phoneNumber", "failureReason"?, "cost"? ("KES 0.5000": it replaces the answer's)}] come to
/hooks/{tenant}/{token}/whatsapp/at."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from api.messaging.africastalking import parse_cost, unreachable
from api.messaging.wire import Outcome, ProviderError

LIVE_URL = "https://chat.africastalking.com"
ACCEPTED = frozenset({"success", "sent", "queued", "submitted", "accepted"})


@dataclass(frozen=True)
class Account:
    """Decrypted credentials, in memory only (repr hides the key)."""

    username: str
    api_key: str = field(repr=False)
    wa_number: str


def _message_id(data: dict[str, Any]) -> str | None:
    nested = data.get("data") if isinstance(data.get("data"), dict) else {}
    value = data.get("messageId") or data.get("id") or nested.get("messageId")  # type: ignore[union-attr]
    return str(value)[:128] if value else None


def parse_answer(data: Any) -> Outcome:
    if not isinstance(data, dict):
        raise ProviderError("Africa's Talking answered something that is not an object",
                            temporary=False)  # fmt: skip
    status = str(data.get("status") or "Unknown")[:100]
    message_id = _message_id(data)
    cost, currency = parse_cost(data.get("cost") if isinstance(data.get("cost"), str) else None)
    accepted = message_id is not None and status.lower() in ACCEPTED
    return Outcome(accepted, status, None, message_id if accepted else None, cost, currency)


async def send(
    http: httpx.AsyncClient, base_url: str, account: Account, to: str, body: str
) -> Outcome:
    payload = {
        "username": account.username,
        "waNumber": account.wa_number,
        "phoneNumber": to,
        "body": {"message": body},
    }
    headers = {"apiKey": account.api_key, "Accept": "application/json"}
    url = base_url.rstrip("/") + "/whatsapp/message/send"
    try:
        response = await http.post(url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise unreachable("Africa's Talking WhatsApp", exc) from None
    if response.status_code == 401:
        raise ProviderError("Africa's Talking refused the username or API key", status=401)
    if response.status_code >= 400:
        reason = _reason(response)
        raise ProviderError(
            f"Africa's Talking WhatsApp answered HTTP {response.status_code}{reason}",
            status=response.status_code,
        )
    try:
        data = response.json()
    except ValueError:
        raise ProviderError("Africa's Talking answered something that is not JSON",
                            temporary=False) from None  # fmt: skip
    return parse_answer(data)


def _reason(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, dict):
        words = data.get("errorMessage") or data.get("message") or data.get("status")
        if isinstance(words, str) and words:
            return ": " + words[:200]
    return ""
