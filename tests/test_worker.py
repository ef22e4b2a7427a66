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


async def test_one_coa_sweep_at_a_time_across_workers():
    """A big ISP's sweep can outlast the 2 s between runs: a run that finds another holding the
    lock does nothing (it used to start anyway, and runs piled up)."""
    from arq.connections import RedisSettings, create_pool  # noqa: PLC0415

    from api.config import get_settings  # noqa: PLC0415
    from api.sessions.tasks import sweep_coa  # noqa: PLC0415

    redis = await create_pool(RedisSettings.from_dsn(get_settings().redis_url))
    try:
        assert await redis.set("lock:sweep_coa", "another worker", nx=True, px=60_000)
        tenant = await make_tenant()
        router = await make_router(tenant=tenant)
        voucher = await make_voucher(plan=await make_plan(tenant=tenant))
        now = datetime.now(UTC)
        await _open_session(voucher, router, updated=now, mac="AA:03")
        await sql("UPDATE voucher SET status = 'revoked' WHERE id = :v", v=voucher.id)
        assert await sweep_coa({"redis": redis}) == 0  # held elsewhere: nothing done
        assert await sql("SELECT 1 FROM coa_request WHERE voucher_id = :v", v=voucher.id) == []
        await redis.delete("lock:sweep_coa")
        for _ in range(3):  # the stack's own worker may sweep it first; either way, swept once
            await sweep_coa({"redis": redis})
        requests = await sql("SELECT * FROM coa_request WHERE voucher_id = :v", v=voucher.id)
        assert [r["kind"] for r in requests] == ["disconnect"]
        assert await redis.get("lock:sweep_coa") is None  # given back
    finally:
        await redis.delete("lock:sweep_coa")
        await redis.aclose()
