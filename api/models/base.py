from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class WrongGuesses:
    """A throttle's count (auth_failure, subscriber_auth_failure): wrong guesses in the window
    that started at window_start, the block running until blocked_until, and how many blocks
    there were (each further one lasts twice as long)."""

    failures: Mapped[int] = mapped_column(Integer, server_default="0")
    window_start: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    blocks: Mapped[int] = mapped_column(Integer, server_default="0")
