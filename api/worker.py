"""arq worker: `arq api.worker.WorkerSettings`. Jobs are idempotent (arq may run them twice)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from api import outbound
from api.bills import tasks as bill_tasks
from api.config import get_settings
from api.health import HEARTBEAT_KEY
from api.messaging.tasks import sweep_messages
from api.notifications import service as notification_service
from api.notifications import tasks as notification_tasks
from api.notifications.sweeps import decide_expiry_warnings, decide_silent_routers
from api.offers import tasks as offer_tasks
from api.payments.tasks import repair_events, verify_due
from api.sessions import tasks as session_tasks
from api.sessions.tasks import close_stale_sessions, prune_auth_failures
from api.subscribers import tasks as subscriber_tasks
from radius.coa import CoAClient


async def heartbeat(ctx: dict[str, Any]) -> str:
    """Tells /healthz the worker is alive; setting a key twice is harmless."""
    now = datetime.now(UTC).isoformat()
    await ctx["redis"].set(HEARTBEAT_KEY, now, ex=180)
    return now


async def startup(ctx: dict[str, Any]) -> None:
    """One CoA/Disconnect client (one UDP socket) per worker process, and the notification
    dispatcher's loop."""
    settings = get_settings()
    client = CoAClient(
        source=settings.coa_source,
        timeout=settings.coa_timeout,
        retries=settings.coa_retries,
    )
    await client.open()
    ctx["coa"] = client
    # Notifications become messages in a loop of their own (api/notifications/tasks.py), and
    # offers in another (api/offers/tasks.py).
    ctx["notifier"] = asyncio.create_task(notification_tasks.run_forever(), name="notifier")
    ctx["offers"] = asyncio.create_task(offer_tasks.run_forever(), name="offers")


async def shutdown(ctx: dict[str, Any]) -> None:
    if "offers" in ctx:
        ctx["offers"].cancel()
    if "notifier" in ctx:
        ctx["notifier"].cancel()
        await notification_service.settle()  # the sends already started finish
    if "coa" in ctx:
        await ctx["coa"].close()
    await outbound.close_all()


class WorkerSettings:
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url)
    on_startup = startup
    on_shutdown = shutdown
    poll_delay = 0.05  # a CoA fan-out should not wait half a second to start
    functions: list[Any] = [
        func(session_tasks.send, name="send_coa", max_tries=5),
        func(session_tasks.send_batch, name="send_coa_batch", max_tries=5),
    ]
    cron_jobs = [
        cron(heartbeat, second=0, run_at_startup=True, unique=True),
        # Every minute, half a minute after the heartbeat.
        cron(close_stale_sessions, second=30, run_at_startup=True, unique=True),
        cron(prune_auth_failures, minute=17, second=15, unique=True),
        # Pushes without an answer are asked about through STK Query (every 10 s).
        cron(verify_due, second={0, 10, 20, 30, 40, 50}, unique=True),
        cron(repair_events, second=45, unique=True),
        # Messages (SMS, WhatsApp, e-mail) whose after-commit send was lost, retries that are
        # due, and sends that hang.
        cron(sweep_messages, second={5, 15, 25, 35, 45, 55}, unique=True),
        cron(decide_expiry_warnings, second={12, 42}, unique=True),
        cron(decide_silent_routers, second=52, unique=True),
        # Pending CoA/Disconnect requests and sessions outliving their voucher.
        cron(session_tasks.sweep_coa, second=set(range(0, 60, 2)), unique=True),
        # Expired subscribers still online in the normal state: Disconnect, once per expiry.
        cron(subscriber_tasks.sweep_expiries, second=set(range(1, 60, 5)), unique=True),
        # Subscribers' reminders before the due date, dunning (SMS, STK prompts) after it.
        cron(bill_tasks.remind_and_dun, minute=set(range(0, 60, 5)), second=22, unique=True),
        # Fair usage follows the number of users online (sessions start and stop via RADIUS).
        cron(session_tasks.evaluate_fair_usage, second=set(range(1, 60, 2)), unique=True),
    ]
