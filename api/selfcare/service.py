"""Self-care for a subscriber: signing in with their PPPoE username (any case) and password at
their ISP's address, what they see (plan, due date, balance, usage this month, payments), paying
by an M-Pesa prompt and changing their PPPoE password.

Passwords are compared with the decrypted stored one in constant time. Sign-in attempts come
from budgets like staff logins (api/limits.py): per ISP, username and address, per ISP and
username from everywhere, and per address; a right password gives its attempt back."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, limits
from api.config import get_settings
from api.errors import AppError, NotFound
from api.subscribers import billing, repository, secrets
from api.tenancy import tenant_sql

PER_ACCOUNT = 5  # wrong passwords per username and address in a window
PER_USERNAME = 20  # per username from every address
PER_ADDRESS = 30  # per address across usernames
WRONG = "Wrong username or password"


class LoginRefused(AppError):
    status_code = 401


def _keys(tenant_id: int, username: str, ip: str | None) -> list[str]:
    ident = hashlib.sha256(f"{tenant_id}\0{username.strip().lower()}".encode()).hexdigest()
    return [f"account:failures:{ident}:{ip or '-'}", f"account:user:{ident}",
            f"account:address:{ip or '-'}"]  # fmt: skip


async def login(session: AsyncSession, tenant_id: int, username: str, password: str,
                ip: str | None) -> int:  # fmt: skip
    """The subscriber's id for a right username and password; 401 otherwise, 429 when over
    the budgets (whatever the password)."""
    keys = _keys(tenant_id, username, ip)
    window = int(get_settings().login_lockout.total_seconds())
    message = "Too many wrong passwords; wait a few minutes and try again"
    await limits.take(list(zip(keys, (PER_ACCOUNT, PER_USERNAME, PER_ADDRESS), strict=True)),
                      window, [message] * 3, growing=True)  # fmt: skip
    found = await session.execute(
        tenant_sql(tenant_id, "SELECT id, encrypted_password FROM subscriber"
                              " WHERE {tenant} AND lower(username) = lower(:u)"),
        {"u": username.strip()},
    )  # fmt: skip
    row = found.mappings().first()
    stored = secrets.decrypt(row["encrypted_password"]) if row else secrets.generate()
    if not hmac.compare_digest(stored.encode(), password.encode()) or row is None:
        raise LoginRefused(WRONG)
    await limits.give_back(*keys)
    return int(row["id"])


async def overview(session: AsyncSession, tenant_id: int, subscriber_id: int) -> dict[str, Any]:
    result = await session.execute(
        tenant_sql(
            tenant_id,
            """SELECT s.id, s.username, s.name, s.phone, s.status, s.due_at, s.balance,
                      p.name AS plan, p.price, t.subscriber_grace_days AS grace, now() AS now,
                      s.due_at + make_interval(days => t.subscriber_grace_days) AS ends_at,
                      (SELECT COALESCE(sum(a.acctinputoctets + a.acctoutputoctets), 0)
                         FROM radacct a
                        WHERE a.subscriber_id = s.id
                          AND a.acctstarttime >= date_trunc('month', now() AT TIME ZONE
                              'Africa/Nairobi') AT TIME ZONE 'Africa/Nairobi') AS used
                 FROM subscriber s
                 JOIN subscriber_plan p ON p.id = s.plan_id
                 JOIN tenant t ON t.id = s.tenant_id
                WHERE {tenant:s} AND s.id = :id""",
        ),
        {"id": subscriber_id},
    )
    row = result.mappings().first()
    if row is None:
        raise NotFound("Your account is gone: ask your internet provider")
    out = dict(row)
    out["state"] = ("paid" if row["due_at"] > row["now"]
                    else "grace" if row["ends_at"] > row["now"] else "expired")  # fmt: skip
    out["due"] = max(row["price"] - row["balance"], 1) if row["price"] > 0 else 0
    out["payments"] = await billing.history(session, tenant_id, subscriber_id, limit=10)
    return out


async def change_password(session: AsyncSession, tenant_id: int, subscriber_id: int,
                          current: str, new: str, meta: audit.Meta = None) -> None:  # fmt: skip
    """The PPPoE password, after the current one; the live session stays up (the router asks
    again at the next login). Audited as the subscriber."""
    result = await session.execute(
        tenant_sql(tenant_id, "SELECT username, encrypted_password FROM subscriber"
                              " WHERE {tenant} AND id = :id FOR UPDATE"),
        {"id": subscriber_id},
    )  # fmt: skip
    row = result.mappings().one()
    if not hmac.compare_digest(secrets.decrypt(row["encrypted_password"]).encode(),
                               current.encode()):  # fmt: skip
        raise LoginRefused("Your current password is wrong")
    await session.execute(
        tenant_sql(tenant_id, "UPDATE subscriber SET encrypted_password = :pw, updated_at = now()"
                              " WHERE {tenant} AND id = :id"),
        {"id": subscriber_id, "pw": secrets.encrypt(new)},
    )  # fmt: skip
    await repository.clear_login_block(session, tenant_id, subscriber_id)
    await audit.changed(
        session, f"subscriber:{row['username']}", "subscriber.password", "subscriber",
        subscriber_id, {}, {}, meta, details={"by": "subscriber"}, tenant_id=tenant_id,
    )  # fmt: skip
