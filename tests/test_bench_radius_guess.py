"""bench/radius_guess.py must keep working: run once at its tiny size against the test stack
(its figures mean nothing here; a schema or policy change that breaks it fails this)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_radius_guess_bench_runs_at_tiny_size():
    done = subprocess.run(
        [sys.executable, "radius_guess.py", "--quick", "--run-dir", os.environ["MNETIFI_RUN_DIR"]],
        cwd=ROOT / "bench",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "guessing device blocked: yes" in done.stdout
