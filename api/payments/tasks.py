"""The worker's jobs (arq): STK Query verification, and the repair of unjudged callbacks.

Callbacks get lost, arrive late, or never come (sandbox especially). A push with no answer
after `stk_query_after` is asked about through STK Query every `stk_query_interval`: "still
being processed" means wait; a success grants (only a verified success does: a callback that
passed the hook's checks, or Safaricom's own answer to our authenticated query); a failure
fails it. After `stk_give_up_after` it shows as failed, and a late success still grants.
A push paid on a callback's word is queried once more; a contradiction is recorded, never
acted on (the sandbox is known to contradict real payments).

The two sweeps below (due pushes, unjudged events) read across every ISP on purpose: one worker
serves them all. Everything else goes through the tenant-scoped repository.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

from api import config, outbound
from api.db import unit_of_work
from api.payments import daraja, events, repository, settle, streams
from api.payments.daraja import PENDING, Client, DarajaError, TokenCache, base_url
from api.payments.service import account
from api.security import get_redis

log = logging.getLogger(__name__)


async def _claim(limit: int) -> list[dict[str, Any]]:
    """Takes the due pushes and moves their next query on, so another worker does not ask
    about them at the same time."""
    settings = config.get_settings()
    async with unit_of_work() as session:
        result = await session.execute(
            text("""
                UPDATE stk_request r
                   SET next_query_at = now() + CAST(:interval AS interval),
                       query_attempts = query_attempts + 1
                  FROM (SELECT id FROM stk_request
                         WHERE next_query_at <= now() AND checkout_request_id IS NOT NULL
                         ORDER BY next_query_at LIMIT :limit
                           FOR UPDATE SKIP LOCKED) due
                 WHERE r.id = due.id
             RETURNING r.id, r.tenant_id, r.checkout_request_id, r.status, r.created_at,
                       r.public_id"""),
            {"interval": settings.stk_query_interval, "limit": limit},
        )
        return [dict(row) for row in result.mappings()]


async def verify_due(
    ctx: dict[str, Any] | None = None, *, batch: int = 50, most: int = 500
) -> dict[str, int]:
    """One pass over the due pushes, a batch at a time; returns what it saw."""
    counts: Counter[str] = Counter()
    settings = config.get_settings()
    http = outbound.client("daraja", daraja.TIMEOUT)  # kept: api/outbound.py
    while sum(counts.values()) < most and (due := await _claim(batch)):
        for item in due:
            counts[await _verify_one(http, settings, item)] += 1
    if counts:
        log.info("STK verification: %s", dict(counts))
    return dict(counts)


async def _stop_querying(tenant_id: int, request_id: int) -> None:
    async with unit_of_work() as session:
        await repository.stop_querying(session, tenant_id, request_id)


async def _verify_one(
    http: httpx.AsyncClient, settings: config.Settings, item: dict[str, Any]
) -> str:
    async with unit_of_work() as session:
        row = await repository.settings_row(session, item["tenant_id"])
    if row is None:
        return "no_account"
    url = base_url(row.environment, settings.daraja_url)
    client = Client(TokenCache(get_redis(), http, url), account(row))
    try:
        answer = await client.stk_query(item["checkout_request_id"])
        code, desc = str(answer.get("ResultCode", "")), str(answer.get("ResultDesc", ""))
    except DarajaError as exc:
        if exc.code != PENDING:
            log.warning("STK query for %s failed: %s", item["checkout_request_id"], exc)
        if item["status"] != "pending":
            await _stop_querying(
                item["tenant_id"], item["id"]
            )  # a paid push's double-check is best effort
            return "error"
        age = datetime.now(UTC) - item["created_at"]
        if item["status"] == "pending" and age > settings.stk_give_up_after:
            await _settle(item, "no_answer", "No answer from M-Pesa in time")
            return "gave_up"
        return "pending" if exc.code == PENDING else "error"
    if not code:
        return "error"
    return await _settle(item, code, desc)


async def _settle(item: dict[str, Any], code: str, desc: str) -> str:
    async with unit_of_work() as session:
        req = await repository.lock_request(session, item["tenant_id"], request_id=item["id"])
        if req is None:
            return "gone"
        was = req["status"]
        if code != "no_answer":
            await repository.query_answered(session, req["tenant_id"], req["id"], code)
        if was == "paid":
            # The confirmation query of a paid push: record what it said, never revoke.
            await repository.stop_querying(session, req["tenant_id"], req["id"])
            if code != "0":
                log.warning(
                    "tenant %s: STK Query says %s for paid purchase %s (kept paid)",
                    req["tenant_id"], code, req["public_id"],
                )  # fmt: skip
                return "contradicted"
            return "confirmed"
        if code == "0":
            outcome = await settle.settle_success(
                session, req, receipt=None, amount=None, phone=None, paid_at=None
            )
            result = "paid" if outcome.verdict == "ok" else outcome.verdict
        else:
            await settle.settle_failure(session, req, code, desc)
            result = "failed"
    await streams.announce(str(item["public_id"]))
    return result


async def repair_events(ctx: dict[str, Any] | None = None, *, older_than: float = 60) -> int:
    """Finishes events stored at the door but never judged (the process died in between)."""
    async with unit_of_work() as session:
        ids = (
            await session.scalars(
                text("""SELECT id FROM payment_event
                         WHERE verdict = 'received'
                           AND received_at < now() - make_interval(secs => :age)
                         ORDER BY id LIMIT 200"""),
                {"age": older_than},
            )
        ).all()
    for event_id in ids:
        await events.judge(event_id)
    return len(ids)
