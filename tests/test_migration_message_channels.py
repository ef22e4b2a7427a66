"""Migration 0015 keeps every SMS already sent: sms_message becomes the outbox of every channel
with its rows as SMS carried by Africa's Talking (their delivery history intact, the next
message id following on), and the downgrade gives them back."""

from __future__ import annotations

import asyncpg

from tests.test_migrations import alembic, empty_database  # noqa: F401 - the fixture

BEFORE = "0015-1"  # whatever revision 0015 follows


async def _fetch(dsn: dict, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(**dsn)
    try:
        return await conn.fetch(query)
    finally:
        await conn.close()


async def test_sent_sms_survive_the_upgrade_and_the_downgrade(empty_database):  # noqa: F811
    url, dsn = empty_database
    alembic(url, "upgrade", BEFORE)
    await _fetch(dsn, """
        INSERT INTO sms_message (idempotency_key, recipient, body, purpose, status, account,
                                 provider_message_id, cost, currency, sent_at, final_at)
        VALUES ('platform:a', '+254712345678', 'code 1', 'otp', 'delivered', 'platform',
                'ATXid_1', 0.8, 'KES', now(), now()),
               ('platform:b', '+254712345679', 'code 2', 'otp', 'queued', NULL,
                NULL, NULL, NULL, NULL, NULL)""")  # fmt: skip

    alembic(url, "upgrade", "0015")
    rows = await _fetch(dsn, "SELECT * FROM message ORDER BY id")
    assert [(r["channel"], r["provider"], r["status"], r["attempts"], r["max_attempts"])
            for r in rows] == [("sms", "africastalking", "delivered", 1, 1),
                               ("sms", "africastalking", "queued", 0, 1)]  # fmt: skip
    assert (rows[0]["provider_message_id"], str(rows[0]["cost"])) == ("ATXid_1", "0.8000")
    await _fetch(
        dsn,
        """
        INSERT INTO message (idempotency_key, channel, recipient, subject, body, purpose)
        VALUES ('platform:c', 'email', 'a@example.com', 'Hi', 'hello', 'notice')""",
    )
    ids = [r["id"] for r in await _fetch(dsn, "SELECT id FROM message ORDER BY id")]
    assert ids == [1, 2, 3]  # the sequence followed the table

    alembic(url, "downgrade", BEFORE)
    back = await _fetch(dsn, "SELECT idempotency_key, status FROM sms_message ORDER BY id")
    # E-mail has no place in sms_message; the SMS are all there.
    assert [tuple(r) for r in back] == [("platform:a", "delivered"), ("platform:b", "queued")]
