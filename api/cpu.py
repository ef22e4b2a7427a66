"""CPU-heavy work off the event loop: a small pool of worker processes with a bounded queue.

Why processes and not threads: the work we send here (QR codes with segno, big Jinja
templates) is pure Python and holds the GIL. Measured on a 300-card sheet page, a thread still
took the loop's CPU: a 5 ms ticker on the loop ran 337 times in 4.1 s (about 40% of what it
could) with a thread rendering, 733 times in 4.2 s (about 90%) with a worker process. Only
processes give the portal and the M-Pesa callbacks their CPU back.

The pool is bounded twice: `cpu_processes` workers at most, and `cpu_queue` calls waiting
for one; past that a caller gets 429 at once instead of piling up requests (and the memory
their results would need) behind each other."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TypeVar

from api import cpu_worker
from api.config import get_settings
from api.errors import ServiceUnavailable, TooManyRequests
from api.gates import Gate

log = logging.getLogger(__name__)
T = TypeVar("T")
# Printing can wait, a customer paying cannot: on a busy machine the kernel gives the API (and
# PostgreSQL) the CPU first and the workers what is left.
NICE = 10

_executor: ProcessPoolExecutor | None = None
_gate = Gate(
    lambda: get_settings().cpu_processes,
    lambda: get_settings().cpu_queue,
    lambda: TooManyRequests("Busy printing other sheets; try again shortly", retry_after=5),
)


def _pool() -> ProcessPoolExecutor:
    global _executor
    if _executor is None:
        # spawn, not fork: forking a process that runs an event loop, a connection pool and
        # threads copies their locks in whatever state they are in.
        context = multiprocessing.get_context("spawn")
        _executor = ProcessPoolExecutor(
            get_settings().cpu_processes,
            mp_context=context,
            initializer=cpu_worker.start,
            initargs=(NICE,),
        )
    return _executor


def admitted() -> int:
    """Calls running or queued now (for tests and metrics)."""
    return _gate.admitted


async def run(func: Callable[..., T], *args: object) -> T:
    """`func(*args)` in a worker process. `func` and its arguments must be picklable: a module
    level function and plain data."""
    try:
        async with _gate.slot():
            return await asyncio.get_running_loop().run_in_executor(_pool(), partial(func, *args))
    except BrokenProcessPool:
        _reset()
        raise ServiceUnavailable("A printing worker stopped; try again") from None


def _reset() -> None:
    """A worker that died (killed, out of memory) breaks the whole pool: start a new one."""
    global _executor
    log.error("CPU worker pool broke; starting a new one")
    if _executor is not None:
        _executor.shutdown(wait=False, cancel_futures=True)
    _executor = None
