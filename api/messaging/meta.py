"""Meta's WhatsApp Business Cloud API (Graph API), as it is on the wire (Meta's Cloud API
reference, messages; webhooks):

    POST {base}/{version}/{phone-number-id}/messages      (base https://graph.facebook.com)
    Authorization: Bearer <access token>    Content-Type: application/json
    {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "2547...",
     "type": "template", "template": {"name": "...", "language": {"code": "en"},
     "components": [{"type": "body", "parameters": [{"type": "text", "text": "..."}]}]}}

    200 {"messaging_product": "whatsapp", "contacts": [{"input": "...", "wa_id": "..."}],
         "messages": [{"id": "wamid....", "message_status": "accepted"}]}
    4xx/5xx {"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}

Business-initiated messages outside the 24-hour window must be approved templates, so every
message goes out as one. Errors: code 190 (token expired or wrong) is the account's; 130429 and
131056 (rate limits), 131000 (something went wrong), 131016 (service unavailable), 2 and 4
(API unavailable, too many calls), any 5xx or 429 are temporary; the rest (131026 undeliverable,
132001 no such template, 131030 not an allowed recipient, ...) refuse this message.

Status webhooks: POST with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw
body)>`, body {"object": "whatsapp_business_account", "entry": [{"id", "changes": [{"field":
"messages", "value": {"metadata": {"phone_number_id"}, "statuses": [{"id": "wamid...",
"status": "sent|delivered|read|failed", "timestamp", "recipient_id": "2547...", "pricing":
{"billable", "pricing_model", "category"}, "errors": [{"code", "title"}]}]}}]}]}. Meta reports a
pricing category, not an amount, so a Meta message's cost stays unknown. The webhook is set up
with a GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=..., answered with the
challenge when the token is ours."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.messaging.africastalking import unreachable
from api.messaging.wire import Outcome, ProviderError

LIVE_URL = "https://graph.facebook.com"
TEMPORARY_CODES = frozenset({2, 4, 130429, 131000, 131016, 131056})


@dataclass(frozen=True)
class Account:
    """Decrypted credentials, in memory only (repr hides the secrets)."""

    phone_number_id: str
    access_token: str = field(repr=False)
    template: str
    language: str


def payload(to: str, template: str, language: str, params: Sequence[str]) -> dict[str, Any]:
    parameters = [{"type": "text", "text": str(p)} for p in params]
    body: dict[str, Any] = {"name": template, "language": {"code": language}}
    if parameters:
        body["components"] = [{"type": "body", "parameters": parameters}]
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.lstrip("+"),
        "type": "template",
        "template": body,
    }


def _error(response: httpx.Response) -> ProviderError:
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, int) else None
    words = error.get("message") if isinstance(error, dict) else None
    details = (error.get("error_data") or {}).get("details") if isinstance(error, dict) else None
    reason = "; ".join(str(w)[:200] for w in (words, details) if w)
    temporary = (
        response.status_code >= 500 or response.status_code == 429 or (code in TEMPORARY_CODES)
    )
    text = f"Meta answered HTTP {response.status_code}" + (f" (code {code})" if code else "")
    return ProviderError(
        text + (f": {reason}" if reason else ""), status=response.status_code, temporary=temporary
    )


async def send(
    http: httpx.AsyncClient,
    base_url: str,
    version: str,
    account: Account,
    to: str,
    template: str | None,
    params: Sequence[str],
) -> Outcome:
    url = f"{base_url.rstrip('/')}/{version}/{account.phone_number_id}/messages"
    body = payload(to, template or account.template, account.language, params)
    headers = {"Authorization": f"Bearer {account.access_token}"}
    try:
        response = await http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise unreachable("Meta", exc) from None
    if response.status_code >= 400:
        raise _error(response)
    try:
        [message] = response.json()["messages"]
        message_id = str(message["id"])[:128]
    except (ValueError, KeyError, TypeError):
        raise ProviderError("Meta answered without the message's id", temporary=False) from None
    status = str(message.get("message_status") or "accepted")[:100]
    return Outcome(True, status, response.status_code, message_id)


def signature_ok(app_secret: str, raw: bytes, header: str | None) -> bool:
    """X-Hub-Signature-256 is sha256=<hex HMAC-SHA256 of the raw body under the app secret>."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower())


def sign(app_secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()
