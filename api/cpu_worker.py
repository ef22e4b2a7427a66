"""Start-up of api.cpu's worker processes. Kept apart from api.cpu so a worker imports only
the standard library before its first job."""

from __future__ import annotations

import multiprocessing
import os
import threading


def start(nice: int) -> None:
    os.nice(nice)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    """A worker holds both ends of its job queue's pipe, so it never sees the API die: when the
    API is killed (kill -9, OOM) its workers would wait for jobs forever. Watch the parent's
    sentinel instead and leave with it."""
    parent.join()
    os._exit(0)
