"""bench/sheet_load.py keeps working: run once at its tiny size against the test stack's real
API (the bench reads this stack's env through MNETIFI_BENCH_RUN_DIR)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sheet_load_bench_runs_at_its_quick_size():
    env = os.environ | {"MNETIFI_BENCH_RUN_DIR": os.environ["MNETIFI_RUN_DIR"]}
    done = subprocess.run(
        [sys.executable, "bench/sheet_load.py", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "portal p99 ratio" in done.stdout and "callback p99 ratio" in done.stdout
