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


async def test_the_coa_sweep_finds_exactly_the_sessions_that_outlive_their_voucher():
    """sweeps.outliving_sessions(): each way a voucher ends, and each way a live session is not
    the sweep's business. Built and read in one transaction that is rolled back, so the stack's
    own worker (which sweeps every 2 s) never sees these sessions and cannot take them first."""
    from sqlalchemy import text  # noqa: PLC0415

    from api.db import get_sessionmaker  # noqa: PLC0415
    from api.sessions import sweeps  # noqa: PLC0415

    tenant = await make_tenant()
    router = await make_router(tenant=tenant)
    plain = await make_plan(tenant=tenant)
    timed = await make_plan(tenant=tenant, time_quota_seconds=600)
    metered = await make_plan(tenant=tenant, data_quota_bytes=10_000_000)
    cases = {  # name: (plan, voucher update, session's seconds, bytes, minutes since update)
        "active": (plain, "", 60, 0, 1),
        "expired": (plain, "expires_at = now() - interval '1 minute'", 60, 0, 1),
        "revoked": (plain, "status = 'revoked'", 60, 0, 1),
        "time used up": (timed, "", 600, 0, 1),
        "time left": (timed, "", 599, 0, 1),
        "data used up": (metered, "", 60, 10_000_000, 1),
        "data left": (metered, "", 60, 9_999_999, 1),
        "expired, session stale": (plain, "expires_at = now() - interval '1 minute'", 60, 0, 30),
        "expired, disconnect pending": (plain, "expires_at = now() - interval '1 min'", 60, 0, 1),
    }
    vouchers = {name: await make_voucher(plan=plan) for name, (plan, *_) in cases.items()}
    async with get_sessionmaker()() as session:
        for name, (_, change, secs, octets, age) in cases.items():
            v = vouchers[name]
            started = "first_used_at = now() - interval '20 minutes', status = 'active', "
            started += "expires_at = now() + interval '40 minutes'"
            for update in (started, change):
                if update:
                    await session.execute(
                        text(f"UPDATE voucher SET {update} WHERE id = :v"), {"v": v.id}
                    )
            radacct_id = await session.scalar(
                text("""INSERT INTO radacct (tenant_id, acctsessionid, acctuniqueid, username,
                                             nasipaddress, acctstarttime, acctupdatetime,
                                             acctsessiontime, acctinputoctets, acctoutputoctets,
                                             callingstationid, voucher_id)
                        VALUES (:t, 'x', :u, :code, :nas, now() - interval '20 minutes',
                                now() - make_interval(mins => :age), :secs, :octets, 0,
                                'AA:00:00:00:00:01', :v)
                        RETURNING radacctid"""),
                {"t": tenant.id, "u": secrets.token_hex(8), "code": v.code, "age": age,
                 "nas": str(router.ip_address), "secs": secs, "octets": octets, "v": v.id},
            )  # fmt: skip
            if name.endswith("pending"):
                await session.execute(
                    text("""INSERT INTO coa_request (tenant_id, router_id, radacct_id, voucher_id,
                                                     kind, reason, attributes)
                            VALUES (:t, :r, :a, :v, 'disconnect', 'expired', '{}')"""),
                    {"t": tenant.id, "r": router.id, "a": radacct_id, "v": v.id},
                )
        # The sweep takes at most 500 sessions a pass, across every ISP: live sessions other
        # tests left in this database must not crowd these out (ended here, rolled back below).
        await session.execute(
            text("UPDATE radacct SET acctstoptime = now() "
                 "WHERE acctstoptime IS NULL AND tenant_id <> :t"),
            {"t": tenant.id},
        )  # fmt: skip
        rows = await sweeps.outliving_sessions(session)
        await session.rollback()
    by_id = {v.id: name for name, v in vouchers.items()}
    found = {
        by_id[r["voucher_id"]]: (r["state"], r["router_id"])
        for r in rows
        if r["voucher_id"] in by_id
    }
    assert found == {
        "expired": ("expired", router.id),
        "revoked": ("revoked", router.id),
        "time used up": ("exhausted", router.id),
        "data used up": ("exhausted", router.id),
    }


async def test_the_outliving_scan_rests_in_proportion_to_its_cost():
    """At most SCAN_SHARE of a core: a scan that took 1 s rests 19 s, one of 10 ms 190 ms (less
    than the 2 s between sweeps, so small ISPs are swept every time). While it rests, sweeps
    still queue lost requests but do not scan; once it is over, they scan again."""
    from arq.connections import RedisSettings, create_pool  # noqa: PLC0415

    from api.config import get_settings  # noqa: PLC0415
    from api.sessions.tasks import SCAN_REST, scan_rest_ms, sweep_coa  # noqa: PLC0415

    assert scan_rest_ms(1.0) == 19_000 and scan_rest_ms(0.01) == 190
    redis = await create_pool(RedisSettings.from_dsn(get_settings().redis_url))
    try:
        tenant = await make_tenant()
        router = await make_router(tenant=tenant)
        voucher = await make_voucher(plan=await make_plan(tenant=tenant))
        await redis.set(SCAN_REST, "1", px=60_000)  # a long scan just ended
        await _open_session(voucher, router, updated=datetime.now(UTC), mac="AA:04")
        await sql("UPDATE voucher SET status = 'revoked' WHERE id = :v", v=voucher.id)
        for _ in range(3):
            await sweep_coa({"redis": redis})
        assert await sql("SELECT 1 FROM coa_request WHERE voucher_id = :v", v=voucher.id) == []
        await redis.delete(SCAN_REST)
        for _ in range(3):  # the stack's own worker may sweep it first; either way, swept once
            await sweep_coa({"redis": redis})
        requests = await sql("SELECT kind FROM coa_request WHERE voucher_id = :v", v=voucher.id)
        assert [r["kind"] for r in requests] == ["disconnect"]
    finally:
        await redis.delete(SCAN_REST)
        await redis.aclose()
