"""Budgets for staff password checks, kept in Redis so every API process shares them.

An attempt is counted *before* its password is checked, in one atomic step (api.limits), so a
hundred parallel guesses for one account see the count move and only the first
`login_max_failures` are ever checked. Two budgets, over a fixed window that starts at the
first attempt:

- per account (ISP, e-mail) and client address: `login_max_failures`;
- per account from every address (a botnet on one account): `login_account_max_failures`;
- per client address across every account (rotating e-mails): `login_address_max_failures`.

Each time a budget is spent again within a day its lockout doubles (15 min, 30 min, 1 h, ... at
most a day): a patient guesser gets ever fewer tries. Wrong second-factor codes take from the
same budgets as wrong passwords. Redis being down refuses the login (503): the limits fail
closed.

A successful login gives its attempts back (the account's counter is cleared, the address's
returns the one it took), so the budgets count failures and checks in flight. The global
budget, how many checks may run at once in a process, is in api.security.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from api import limits
from api.config import get_settings
from api.errors import AppError, NotJudged
from api.security import get_redis


def _account_key(tenant_slug: str, email: str, ip: str | None) -> str:
    ident = f"{tenant_slug.lower()}\0{email.strip().lower()}\0{ip or '-'}"
    return "login:failures:" + hashlib.sha256(ident.encode()).hexdigest()


def _whole_account_key(tenant_slug: str, email: str) -> str:
    ident = f"{tenant_slug.lower()}\0{email.strip().lower()}"
    return "login:account:" + hashlib.sha256(ident.encode()).hexdigest()


def _address_key(ip: str | None) -> str:
    return f"login:address:{ip or '-'}"


async def reserve(tenant_slug: str, email: str, ip: str | None) -> None:
    """Takes one attempt from both budgets; 429 (whatever the password) when either is spent."""
    settings = get_settings()
    await limits.take(
        [
            (_account_key(tenant_slug, email, ip), settings.login_max_failures),
            (_whole_account_key(tenant_slug, email), settings.login_account_max_failures),
            (_address_key(ip), settings.login_address_max_failures),
        ],
        int(settings.login_lockout.total_seconds()),
        [
            "Too many failed logins; wait before trying again",
            "Too many failed logins for this account; wait before trying again",
            "Too many failed logins from this network; wait before trying again",
        ],
        growing=True,
    )


async def succeeded(tenant_slug: str, email: str, ip: str | None) -> None:
    """The right password: the account starts afresh here, and the account (everywhere) and the
    address get this attempt back. Past lockouts still count towards the next one's length."""
    await get_redis().delete(_account_key(tenant_slug, email, ip))
    await limits.give_back(_whole_account_key(tenant_slug, email), _address_key(ip))


@asynccontextmanager
async def judging(tenant_slug: str, email: str, ip: str | None) -> AsyncIterator[None]:
    """One attempt from the budgets around a step that checks a password or a code. Refused
    inside (an AppError: a wrong code, a wrong password), the attempt stays counted, unless
    refused before anything was checked (errors.NotJudged: nothing pending, no code); failed
    otherwise (an outage, never judged), it is returned; passed, the account starts afresh as
    after a finished login (`succeeded`)."""
    await reserve(tenant_slug, email, ip)
    try:
        yield
    except AppError as exc:
        if isinstance(exc, NotJudged):  # refused before anything was checked
            await give_back(tenant_slug, email, ip)
        raise
    except BaseException:
        await give_back(tenant_slug, email, ip)
        raise
    await succeeded(tenant_slug, email, ip)


async def give_back(tenant_slug: str, email: str, ip: str | None) -> None:
    """An attempt that was never judged (an outage, an overload) is returned to both budgets."""
    await limits.give_back(
        _account_key(tenant_slug, email, ip),
        _whole_account_key(tenant_slug, email),
        _address_key(ip),
    )


# One-time links (invitations, password resets): the token is 256 random bits, so a guess never
# lands; the budget is against someone hammering the routes. Unknown links count per address.
LINK_GUESSES = 20
# Reset requests mail a person: a few per account, more per address, whatever the answer.
RESET_PER_ACCOUNT = 5
RESET_PER_ADDRESS = 20


def _link_key(ip: str | None) -> str:
    return f"link:address:{ip or '-'}"


async def link_attempt(ip: str | None) -> None:
    await limits.take(
        [(_link_key(ip), LINK_GUESSES)],
        int(get_settings().login_lockout.total_seconds()),
        ["Too many unknown links from this network; wait before trying again"],
        growing=True,
    )


async def link_worked(ip: str | None) -> None:
    await limits.give_back(_link_key(ip))


async def reset_request(tenant_slug: str, email: str, ip: str | None) -> None:
    ident = f"{tenant_slug.lower()}\0{email.strip().lower()}"
    await limits.take(
        [
            ("reset:account:" + hashlib.sha256(ident.encode()).hexdigest(), RESET_PER_ACCOUNT),
            (f"reset:address:{ip or '-'}", RESET_PER_ADDRESS),
        ],
        int(get_settings().login_lockout.total_seconds()),
        [
            "Too many reset requests for this account; wait before asking again",
            "Too many reset requests from this network; wait before asking again",
        ],
        growing=True,
    )
