"""The worker's sweeper job, run directly against the real database: it closes sessions whose
router stopped updating them, through close_stale_sessions() (the SQL in the migration)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from api import worker
from api.sessions.tasks import close_stale_sessions
from tests.factories import accounting, make_plan, make_router, make_tenant, make_voucher
from tests.radius.conftest import sql


async def _open_session(voucher, router, *, updated: datetime, mac: str) -> str:
    unique = secrets.token_hex(8)
    common = {"tenant_id": voucher.tenant_id, "nas": str(router.ip_address), "mac": mac}
    common |= {"username": voucher.code, "unique": unique}
    await accounting(kind="start", at=updated - timedelta(minutes=10), **common)
    await accounting(kind="interim-update", at=updated, session_time=600, **common)
    return unique


async def _row(unique: str) -> dict:
    rows = await sql(
        "SELECT acctstoptime, acctupdatetime, acctterminatecause, acctsessiontime "
        "FROM radacct WHERE acctuniqueid = :u",
        u=unique,
    )
    return dict(rows[0])


async def test_closes_stale_sessions_once_and_leaves_live_ones():
    tenant = await make_tenant()
    router = await make_router(tenant=tenant)
    voucher = await make_voucher(plan=await make_plan(tenant=tenant, device_limit=2))
    now = datetime.now(UTC).replace(microsecond=0)
    # Default interval 300 s: a session is stale 2 x 300 s + 60 s after its last update.
    stale = await _open_session(voucher, router, updated=now - timedelta(minutes=12), mac="AA:01")
    live = await _open_session(voucher, router, updated=now - timedelta(minutes=10), mac="AA:02")

    assert await close_stale_sessions({}) >= 1
    closed = await _row(stale)
    assert closed["acctterminatecause"] == "Stale-Session"
    assert closed["acctstoptime"] == closed["acctupdatetime"] == now - timedelta(minutes=12)
    assert closed["acctsessiontime"] == 600
    assert (await _row(live))["acctstoptime"] is None

    # Running it again (arq may) changes nothing.
    assert await close_stale_sessions({}) == 0
    assert await _row(stale) == closed

    # A late interim update proves the session alive after all: it is open again.
    await accounting(
        kind="interim-update",
        tenant_id=tenant.id,
        nas=str(router.ip_address),
        username=voucher.code,
        unique=stale,
        at=now,
        session_time=1320,
        mac="AA:01",
    )
    reopened = await _row(stale)
    assert reopened["acctstoptime"] is None and reopened["acctterminatecause"] is None


async def test_runs_every_minute():
    jobs = {job.name: job for job in worker.WorkerSettings.cron_jobs}
    job = jobs["cron:close_stale_sessions"]
    assert job.coroutine is close_stale_sessions
    assert job.second == 30 and job.minute is None and job.unique
