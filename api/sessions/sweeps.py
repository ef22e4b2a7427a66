"""The worker's SQL across every ISP at once, on purpose: sending due Disconnect/CoA requests
(claimed by id, whoever's they are), the sweeps over sessions that outlive their voucher or
their router, and finding the ISPs whose fair usage needs evaluating. Each query here is
cross-tenant by design (tests/test_layout.py lists this module); everything one ISP asks for is
in repository.py, scoped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession


async def claim(session: AsyncSession, ids: Sequence[int], hold: float) -> list[RowMapping]:
    """Takes the pending, due requests among `ids` for `hold` seconds, with their router."""
    result = await session.execute(
        text("""
            WITH claimed AS (
                UPDATE coa_request SET next_try_at = now() + make_interval(secs => :hold)
                 WHERE id = ANY(:ids) AND status = 'pending' AND next_try_at <= now()
                RETURNING *)
            SELECT c.*, host(r.ip_address) AS address, r.coa_port, r.secret
              FROM claimed c LEFT JOIN router r ON r.id = c.router_id"""),
        {"ids": list(ids), "hold": hold},
    )
    return list(result.mappings().all())


async def record_retries(session: AsyncSession, again: list[dict[str, Any]]) -> None:
    """Another round later: the sweep queues it when next_try_at comes."""
    await session.execute(
        text("""UPDATE coa_request SET rounds = rounds + 1, attempts = attempts + :n,
                       detail = :detail, next_try_at = now() + CAST(:delay AS interval)
                 WHERE id = :id AND status = 'pending'"""),
        again,
    )


async def record_answers(session: AsyncSession, final: list[dict[str, Any]]) -> None:
    await session.execute(
        text("""UPDATE coa_request SET status = :status, error_cause = :cause,
                       detail = :detail, attempts = attempts + :n, rounds = rounds + 1,
                       finished_at = now()
                 WHERE id = :id AND status = 'pending'"""),
        final,
    )


# What outliving_sessions() runs (bench/coa_sweep.py times it against the query it replaced).
OUTLIVING_SQL = """
WITH live AS (
    SELECT a.radacctid, a.tenant_id, a.voucher_id, a.username, a.acctsessionid,
           host(a.framedipaddress) AS framed_ip, a.callingstationid,
           r.id AS router_id,
           (voucher_state(v, t.unused_voucher_days, u.secs, u.bytes)).state
      FROM radacct a
      JOIN router r ON r.tenant_id = a.tenant_id AND r.ip_address = a.nasipaddress
      JOIN voucher v ON v.id = a.voucher_id
      JOIN tenant t ON t.id = a.tenant_id
     CROSS JOIN LATERAL (
           SELECT COALESCE(sum(s.acctsessiontime), 0)::bigint AS secs,
                  COALESCE(sum(COALESCE(s.acctinputoctets, 0)
                               + COALESCE(s.acctoutputoctets, 0)), 0)::bigint AS bytes
             FROM radacct s
            WHERE s.voucher_id = v.id
              AND (v.time_quota_seconds IS NOT NULL OR v.data_quota_bytes IS NOT NULL)
           ) u
     WHERE a.acctstoptime IS NULL
       AND COALESCE(a.acctupdatetime, a.acctstarttime)
           > now() - session_grace(t.acct_interim_interval)
       -- Only a voucher that can have ended is worth its state: revoked, past its
       -- end, or with a quota to use up.
       AND (v.status = 'revoked' OR v.expires_at <= now()
            OR v.time_quota_seconds IS NOT NULL OR v.data_quota_bytes IS NOT NULL)
)
SELECT * FROM live
 WHERE state IN ('expired', 'exhausted', 'revoked')
   AND NOT EXISTS (SELECT 1 FROM coa_request c
                    WHERE c.radacct_id = live.radacctid
                      AND c.kind = 'disconnect'
                      AND (c.status = 'pending'
                           OR c.created_at > now() - interval '10 minutes'))
 LIMIT 500
"""


async def outliving_sessions(session: AsyncSession) -> Sequence[RowMapping]:
    """Live sessions of vouchers that can no longer be used (expired, used up, revoked) with no
    Disconnect pending or recently tried, every ISP's, with the state that ended them. The state
    is voucher_state()'s rules, inlined, given the voucher's usage, which is summed only for a
    voucher with a quota (the rest cannot be used up): a few us per live session, where calling
    voucher_state(voucher, days) for each cost ~20 (bench/coa_sweep.py)."""
    result = await session.execute(text(OUTLIVING_SQL))
    return result.mappings().all()


async def due_requests(session: AsyncSession) -> list[tuple[int, int]]:
    """(id, rounds) of pending requests whose time has come and whose job was lost or never
    queued (a request a few seconds old is still with the job its commit queued)."""
    due = await session.execute(
        text("""SELECT id, rounds FROM coa_request
                 WHERE status = 'pending' AND next_try_at <= now()
                   AND created_at < now() - interval '2 seconds'
                 ORDER BY next_try_at LIMIT 1000""")
    )
    return [(int(i), int(r)) for i, r in due]


async def fair_usage_tenants(session: AsyncSession) -> dict[int, tuple[Any, ...]]:
    """ISPs with fair-usage rules, or state left from removed ones, each with what its
    evaluation depends on: its sessions online (how many, the newest) and its rules. While
    that signature stays the same, evaluating the ISP again would change nothing."""
    result = await session.execute(
        text("""
            SELECT t.tenant_id, o.online, o.newest, r.rules
              FROM (SELECT tenant_id FROM fair_usage_rule WHERE active
                    UNION SELECT tenant_id FROM fair_usage_state) t
             CROSS JOIN LATERAL (
                   SELECT count(*) AS online, max(a.radacctid) AS newest FROM radacct a
                    WHERE a.tenant_id = t.tenant_id AND a.acctstoptime IS NULL) o
             CROSS JOIN LATERAL (
                   SELECT md5(string_agg(concat_ws(':', f.id, f.scope, f.threshold, f.rate_limit,
                                                   f.active, f.plan_id), ',' ORDER BY f.id))
                          AS rules
                     FROM fair_usage_rule f WHERE f.tenant_id = t.tenant_id) r""")
    )
    return {row[0]: tuple(row[1:]) for row in result}


async def close_stale(session: AsyncSession) -> int:
    """Closes, across all tenants, the sessions past their grace period; returns how many."""
    return int(await session.scalar(text("SELECT close_stale_sessions()")) or 0)


async def prune_auth_failures(session: AsyncSession) -> int:
    """Forget wrong-code counters idle for a day (guess throttling, migration 0008)."""
    return int(await session.scalar(text("SELECT prune_auth_failures()")) or 0)
