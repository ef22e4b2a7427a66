"""The worker's sweeps over every ISP's subscribers at once (cross-tenant on purpose, listed in
tests/test_layout.py's CROSS_TENANT): expiries with a live session still in the normal state,
and the reminders and dunning decided per subscriber, due date and day."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

# Subscribers past their due date and the ISP's grace with a live session that began while they
# were paid up (so the router gave it the normal pool and rate), not yet acted on for this due
# date. The insert is the decision: subscriber_expiry is unique per subscriber and due date, so
# a second sweep, or a second worker racing this one, decides nothing (it waits for the first
# one's commit on the unique index, then finds the row). Bounded to the last 90 days of due
# dates (ix_subscriber_due_at): older expiries had their Session-Timeout long ago.
_EXPIRIES = text("""
    INSERT INTO subscriber_expiry (tenant_id, subscriber_id, due_at)
    SELECT s.tenant_id, s.id, s.due_at
      FROM subscriber s JOIN tenant t ON t.id = s.tenant_id
     WHERE s.due_at <= now() AND s.due_at > now() - interval '90 days'
       AND s.status = 'active'
       AND s.due_at + make_interval(days => t.subscriber_grace_days) <= now()
       AND EXISTS (SELECT 1 FROM radacct a
                    WHERE a.subscriber_id = s.id AND a.acctstoptime IS NULL
                      AND a.acctstarttime
                          < s.due_at + make_interval(days => t.subscriber_grace_days)
                      AND COALESCE(a.acctupdatetime, a.acctstarttime)
                          > now() - session_grace(t.acct_interim_interval))
       AND NOT EXISTS (SELECT 1 FROM subscriber_expiry e
                        WHERE e.subscriber_id = s.id AND e.due_at = s.due_at)
     LIMIT 500
    ON CONFLICT (subscriber_id, due_at) DO NOTHING
    RETURNING id, tenant_id, subscriber_id""")


async def decide_expiries(session: AsyncSession) -> Sequence[RowMapping]:
    return (await session.execute(_EXPIRIES)).mappings().all()


async def record_sessions(session: AsyncSession, expiry_id: int, sessions: int) -> None:
    await session.execute(
        text("UPDATE subscriber_expiry SET sessions = :n WHERE id = :id"),
        {"id": expiry_id, "n": sessions},
    )


# The ISP's reminder N days before the due date and its dunning on chosen days after it, for
# subscribers with a phone: one notification per subscriber, due date and day (the key), decided
# by the insert. `day` is negative before the due date. Days count in East Africa Time.
_REMINDERS = text("""
    WITH due AS (
        SELECT s.id, s.tenant_id, s.due_at, s.username, t.subscriber_dunning_stk AS stk,
               (s.due_at AT TIME ZONE 'Africa/Nairobi')::date
                 - (now() AT TIME ZONE 'Africa/Nairobi')::date AS days_left,
               t.subscriber_reminder_days AS remind, t.subscriber_dunning_days AS dunning
          FROM subscriber s JOIN tenant t ON t.id = s.tenant_id
         WHERE s.phone IS NOT NULL AND s.status = 'active' AND t.active
           AND s.due_at > now() - interval '100 days' AND s.due_at < now() + interval '31 days'
    )
    INSERT INTO notification (tenant_id, event, key, subscriber_id, details)
    SELECT d.tenant_id,
           CASE WHEN d.days_left > 0 THEN 'subscriber.due_soon' ELSE 'subscriber.overdue' END,
           format('subscriber:%s:%s:%s', d.id, extract(epoch FROM d.due_at)::bigint, -d.days_left),
           d.id,
           jsonb_build_object('days', abs(d.days_left), 'stk', d.stk AND d.days_left < 0,
                              'due', to_char(d.due_at AT TIME ZONE 'Africa/Nairobi', 'YYYY-MM-DD'))
      FROM due d
     WHERE (d.days_left > 0 AND d.days_left = d.remind)
        OR (d.days_left < 0 AND (-d.days_left)::text = ANY(string_to_array(d.dunning, ',')))
    ON CONFLICT (key) DO NOTHING
    RETURNING id, tenant_id, subscriber_id, event, (details->>'stk')::boolean AS stk""")


async def decide_reminders(session: AsyncSession) -> Sequence[RowMapping]:
    """The notifications this call decided (a key decided before is not among them)."""
    return (await session.execute(_REMINDERS)).mappings().all()
