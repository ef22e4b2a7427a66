"""Engine and the one unit of work per request/job: commit or roll back in exactly one place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from api.config import get_settings

log = logging.getLogger(__name__)


# No JIT compilation for our statements: every one is a short index read (a page of a list, a
# login), but a plan whose estimate is large (a big ISP's fallback branches, the money check
# over its payments) crosses jit_above_cost and then spends 1-1.5 s compiling for a query that
# runs in 30 ms (bench/admin_pages.py, 10M sessions).
_SERVER_SETTINGS = {"jit": "off"}


@lru_cache
def get_engine() -> AsyncEngine:
    return create_async_engine(
        get_settings().database_url,
        pool_size=10,
        pool_pre_ping=True,
        connect_args={"server_settings": _SERVER_SETTINGS},
    )


@lru_cache
def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(get_engine(), expire_on_commit=False)


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Runs `callback` once this unit of work has committed (never if it rolls back): how a
    change reaches the outside world (queued jobs) only when it is durable."""
    session.info.setdefault("after_commit", []).append(callback)


async def roll_back(session: AsyncSession) -> None:
    """Undoes what the unit of work did so far, its after-commit callbacks included (a page
    that shows a refusal goes on using the session to render)."""
    session.info.pop("after_commit", None)
    await session.rollback()


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[AsyncSession]:
    """Services and repositories flush(); only this commits."""
    async with get_sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop("after_commit", None)
            await session.rollback()
            raise
        for callback in session.info.pop("after_commit", []):
            try:
                await callback()
            except Exception:  # the change is committed; a worker sweep repairs the rest
                log.exception("after-commit callback failed")


async def get_session() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency wrapping each request in a unit of work."""
    async with unit_of_work() as session:
        yield session
