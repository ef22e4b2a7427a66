"""SMS customers send to the ISP, and STOP.

Africa's Talking posts each message sent to the ISP's shortcode or number to the app's
"Incoming messages" callback (set on AT's dashboard, SMS > Callback URLs), form-encoded:
from, to, text, date, id, linkId, networkCode. Each ISP has its own URL,
/hooks/{tenant}/{token}/sms/inbound: AT signs nothing, so the token (drawn at the ISP's first
SMS save, encrypted like its other secrets) is what makes a message the ISP's; a wrong one is
answered 404 and nothing is recorded.

A message is recorded once (unique on AT's id within the ISP): a replayed callback changes
nothing again. STOP (any case, any spaces around it), or its Kiswahili ACHA, opts the sender out
of the ISP's offers and decides one confirmation SMS in the same transaction, keyed by AT's id:
once however often AT replays it. The confirmation goes in the customer's language (the one they
bought in, else the ISP's portal language), within the ISP's limits (country prefixes, daily
cap)."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import config, crypto
from api.db import unit_of_work
from api.errors import BadRequest, NotFound
from api.messaging import consent, outbox
from api.notifications import service as notifications
from api.sms import repository

log = logging.getLogger(__name__)
STOP_WORDS = frozenset({"STOP", "ACHA"})  # English, Kiswahili ("leave off")
CONFIRMATION = {
    "en": "{isp}: you will get no more offers. Receipts and voucher messages still come.",
    "sw": "{isp}: hutapokea ofa tena. Risiti na ujumbe wa vocha utaendelea kuja.",
}
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_FIELD = re.compile(r"^[\w .:+/=-]{1,100}$")


def inbound_url(tenant_id: int, token: str) -> str:
    base = config.get_settings().public_url.rstrip("/")
    return f"{base}/hooks/{tenant_id}/{token}/sms/inbound"


def is_stop(text: str) -> bool:
    """STOP or ACHA, whatever the case and the spaces around it (a sentence is not a STOP)."""
    return " ".join(text.split()).upper() in STOP_WORDS


def parse(fields: dict[str, str]) -> dict[str, Any]:
    """The callback's fields, checked; BadRequest saying what is wrong."""
    provider_id = fields.get("id", "").strip()
    if not _FIELD.match(provider_id):
        raise BadRequest("an incoming message needs Africa's Talking's id")
    sender = fields.get("from", "").strip().replace(" ", "")
    sender = sender if sender.startswith("+") else "+" + sender
    if not _E164.match(sender):
        raise BadRequest("an incoming message needs the sender's number (from)")
    to = fields.get("to", "").strip()
    text = fields.get("text", "")
    if not to or len(to) > 30 or len(text) > 1600:
        raise BadRequest("an incoming message names the number it was sent to (to) and its text")
    optional = {k: fields.get(k, "").strip() or None for k in ("linkId", "networkCode", "date")}
    if any(v is not None and not _FIELD.match(v) for v in optional.values()):
        raise BadRequest("linkId, networkCode and date are short words")
    return {
        "provider_id": provider_id, "sender": sender, "to_number": to, "body": text,
        "link_id": optional["linkId"], "network_code": optional["networkCode"],
        "sent_at": optional["date"],
    }  # fmt: skip


async def _tenant(session: AsyncSession, tenant_ref: str, token: str) -> int:
    """The ISP whose URL this is; NotFound (nothing recorded) when the token is not its."""
    if not tenant_ref.isdigit() or len(tenant_ref) > 12:
        raise NotFound("Not Found")
    row = await repository.settings_row(session, int(tenant_ref))
    if row is None or row.inbound_token_enc is None:
        raise NotFound("Not Found")
    if not hmac.compare_digest(crypto.decrypt(row.inbound_token_enc).encode(), token.encode()):
        raise NotFound("Not Found")
    return row.tenant_id


async def receive(tenant_ref: str, token: str, fields: dict[str, str]) -> dict[str, str]:
    """Records one incoming message and acts on it; {"status": "recorded" | "replayed"}."""
    async with unit_of_work() as session:
        tenant_id = await _tenant(session, tenant_ref, token)
        values = parse(fields)
        stop = is_stop(values["body"])
        values["action"] = "opt-out" if stop else None
        if await repository.record_inbound(session, tenant_id, values) is None:
            return {"status": "replayed"}
        if stop:
            await _opt_out(session, tenant_id, values)
    log.info("incoming SMS %s for ISP %s%s", values["provider_id"], tenant_id,
             ": STOP" if stop else "")  # fmt: skip
    return {"status": "recorded"}


async def _opt_out(session: AsyncSession, tenant_id: int, values: dict[str, Any]) -> None:
    """Opts the sender out and decides the confirmation, sent once this commits."""
    phone = values["sender"]
    before = await consent.opt_out(session, tenant_id, phone, "sms-stop", values["provider_id"])
    refused = await notifications.refusal(session, tenant_id, phone)
    if refused is not None:
        log.info("no STOP confirmation to %s...: %s", phone[:5], refused)
        return
    isp, isp_language = await repository.isp_voice(session, tenant_id)
    language = before["language"] or isp_language
    body = CONFIRMATION.get(language, CONFIRMATION["en"]).format(isp=isp)
    await outbox.enqueue(
        session, tenant_id, "sms", phone, body, "opt-out", f"sms-stop:{values['provider_id']}"
    )
