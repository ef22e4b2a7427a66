"""radius/render.py's thread count: FreeRADIUS's worker threads and its SQL connections, one per
thread, two per core by default (at least four), unless the stack is told otherwise."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from radius import render


@pytest.mark.parametrize(("cores", "threads"), [(1, 4), (2, 4), (3, 6), (8, 16)])
def test_two_threads_per_core_and_at_least_four(cores, threads):
    assert render.default_threads(cores) == threads


def test_the_cores_are_those_this_process_may_run_on(monkeypatch):
    """A container limited to some CPUs (its cpuset) gets threads for those, not for the host's."""
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert render.default_threads() == 6


def _pools(raddb: Path) -> dict[str, str]:
    conf = (raddb / "radiusd.conf").read_text()
    sql = (raddb / "mods-enabled" / "sql").read_text()
    return {
        "threads": re.search(r"^\s*max_servers\s*=\s*(\d+)", conf, re.M).group(1),
        "started": re.search(r"^\s*start_servers\s*=\s*(\d+)", conf, re.M).group(1),
        "connections": re.search(r"^\s*max\s*=\s*(\d+)", sql, re.M).group(1),
        "opened": re.search(r"^\s*start\s*=\s*(\d+)", sql, re.M).group(1),
    }


def test_the_thread_pool_and_the_connection_pool_are_one_size(tmp_path):
    names = "RUN_DIR DB_PORT DB_USER DB_NAME AUTH_PORT ACCT_PORT STATUS_SECRET RADIUS_PASSWORD_KEY"
    values = dict.fromkeys(names.split(), "1")
    render.render(tmp_path / "default", values)
    assert set(_pools(tmp_path / "default").values()) == {str(render.default_threads())}
    render.render(tmp_path / "six", values | {"THREADS": "6"})
    assert set(_pools(tmp_path / "six").values()) == {"6"}


def test_the_stack_renders_its_freeradius_with_the_default_or_the_override():
    """deploy/stack.sh passes MNETIFI_RADIUS_THREADS when set; the test stack runs without it."""
    raddb = Path(os.environ["MNETIFI_RUN_DIR"]) / "raddb"
    expected = os.environ.get("MNETIFI_RADIUS_THREADS") or str(render.default_threads())
    assert set(_pools(raddb).values()) == {expected}
