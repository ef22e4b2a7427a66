"""Offers staff send to the customers who asked for them (owners and admins, offers:send).

An offer is one `broadcast` row, written with its audit entry in the request's transaction; the
worker then expands it into messages (tasks.py). Before sending, staff see who it would reach:
every phone opted in (a paid purchase with "Send me offers" ticked) before that moment and not
opted out since (STOP, or staff), within the ISP's country prefixes. An offer needs the
shortcode customers text STOP to (its last line names it: a way out that works) and channels
the ISP has set up: SMS on its own Africa's Talking account (whose incoming messages reach us),
WhatsApp on its WhatsApp account."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, limits
from api.errors import BadRequest, NotFound
from api.messaging import consent
from api.models import Broadcast
from api.offers import repository
from api.offers.schemas import (
    MAX_TEXT,
    Audience,
    BroadcastIn,
    BroadcastOut,
    ConsentCounts,
    Progress,
)
from api.tenancy import Principal

PER_DAY = 10  # offers one ISP may send a day (each costs a message per recipient)
CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}


def _ready(setup: dict[str, object]) -> tuple[list[str], str | None]:
    """The channels set up, and why no offer can go now (None: it can)."""
    channels = [c for c in ("sms", "whatsapp") if setup[c]]
    if not setup["sms"]:
        return channels, (
            "Offers need the ISP's own Africa's Talking account (SMS settings): customers text "
            "STOP to its shortcode"
        )
    if not setup["shortcode"]:
        return channels, (
            "Set the shortcode customers text STOP to (SMS settings) first: every offer ends "
            "with it"
        )
    return channels, None


async def audience(session: AsyncSession, principal: Principal) -> Audience:
    setup = await repository.setup(session, principal.tenant_id)
    channels, problem = _ready(setup)
    count = await consent.audience(
        session, principal.tenant_id, str(setup["prefixes"]), datetime.now(UTC)
    )
    return Audience(
        recipients=count, channels=channels, stop_to=setup["shortcode"],  # type: ignore[arg-type]
        problem=problem,
    )  # fmt: skip


def _text(data: BroadcastIn) -> str:
    text = data.text.strip()
    if not text:
        raise BadRequest("Write the offer: its text is empty")
    if len(text) > MAX_TEXT:
        raise BadRequest(f"An offer is at most {MAX_TEXT} characters; this one has {len(text)}")
    if any(ord(c) < 32 and c not in "\n" for c in text):
        raise BadRequest("An offer's text holds no control characters")
    return text


async def send(
    session: AsyncSession, principal: Principal, data: BroadcastIn, meta: audit.Meta = None
) -> BroadcastOut:
    """Records the offer (audited); the worker sends it to every recipient counted now."""
    text = _text(data)
    if not data.channels:
        raise BadRequest("Choose at least one channel: SMS or WhatsApp")
    setup = await repository.setup(session, principal.tenant_id)
    channels, problem = _ready(setup)
    if problem is not None:
        raise BadRequest(problem)
    missing = [c for c in data.channels if c not in channels]
    if missing:
        raise BadRequest(f"{CHANNEL_NAMES[missing[0]]} is not set up for this ISP")
    await limits.take(
        [(f"offers:sent:{principal.tenant_id}", PER_DAY)], 86_400,
        [f"At most {PER_DAY} offers a day; try again tomorrow"],
    )  # fmt: skip
    now = datetime.now(UTC)
    count = await consent.audience(session, principal.tenant_id, str(setup["prefixes"]), now)
    row = await repository.add(
        session, principal.tenant_id,
        {"body": text, "channels": sorted(set(data.channels)), "stop_to": setup["shortcode"],
         "audience": count, "created_by": principal.email, "created_at": now},
    )  # fmt: skip
    await audit.record(
        session, principal, "offer.send", "broadcast", row.id,
        {"channels": row.channels, "audience": count, "text": text}, meta,
    )  # fmt: skip
    return (await _out(session, principal.tenant_id, [row]))[0]


async def _out(session: AsyncSession, tenant_id: int, rows: list[Broadcast]) -> list[BroadcastOut]:
    counts = await repository.progress(session, tenant_id, [r.id for r in rows])
    out = []
    for row in rows:
        progress = Progress()
        for item in counts.get(row.id, []):
            setattr(progress, item["status"], int(item["n"]))
            progress.decided += int(item["n"])
            if item["cost"] is not None:
                progress.cost = (progress.cost or Decimal(0)) + item["cost"]
                progress.currency = item["currency"]
        out.append(BroadcastOut(
            id=row.id, text=row.body, channels=list(row.channels), stop_to=row.stop_to,
            status=row.status, audience=row.audience, created_by=row.created_by,  # type: ignore[arg-type]
            created_at=row.created_at, finished_at=row.finished_at, progress=progress,
        ))  # fmt: skip
    return out


async def recent(
    session: AsyncSession, principal: Principal, limit: int = 20, before: int | None = None
) -> list[BroadcastOut]:
    rows = await repository.recent(session, principal.tenant_id, limit, before)
    return await _out(session, principal.tenant_id, rows)


async def one(session: AsyncSession, principal: Principal, broadcast_id: int) -> BroadcastOut:
    row = await repository.one(session, principal.tenant_id, broadcast_id)
    if row is None:
        raise NotFound("No such offer")
    return (await _out(session, principal.tenant_id, [row]))[0]


async def consent_counts(session: AsyncSession, principal: Principal) -> ConsentCounts:
    return ConsentCounts(**await consent.counts(session, principal.tenant_id))


async def opt_out(
    session: AsyncSession, principal: Principal, phone: str, meta: audit.Meta = None
) -> ConsentCounts:
    """Staff opting a phone out (the customer asked by phone or at the counter); audited."""
    before = await consent.opt_out(session, principal.tenant_id, phone, "staff", principal.email)
    await audit.changed(
        session, principal, "offer.opt_out", "offer_consent", phone,
        {"status": before["status"]}, {"status": "out"}, meta,
    )  # fmt: skip
    return await consent_counts(session, principal)
