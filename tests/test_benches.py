"""Every benchmark runs once, at a tiny size, on the bench stack (`./deploy/stack.sh up bench`,
its own ports and database), so a schema change that breaks one fails here and not on the next
`make bench`. Figures are ignored: timing is the benchmarks' business, not the tests'."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "deploy" / "stack.sh"
TINY = ["--vouchers", "200", "--sessions", "2000"]

# The bench, and the arguments that make it run in seconds.
BENCHES = {
    "radius_auth": [
        *TINY,
        "--requests",
        "400",
        "--rounds",
        "1",
        "--rate",
        "200",
        "--seconds",
        "1",
        "--subscribers",
        "50",
    ],  # fmt: skip
    "radius_acct": ["--vouchers", "200", "--data-sessions", "2000", "--sessions", "200"],
    "usage_warnings": [
        "--vouchers",
        "200",
        "--data-sessions",
        "2000",
        "--sessions",
        "40",
        "--rounds",
        "1",
        "--latency",
        "20",
        "--wait",
        "60",
    ],  # fmt: skip
    "payment_latency": ["--payments", "5", "--concurrency", "2", "--warmup", "1"],
    "coa_fanout": ["--routers", "2", "--per-router", "5", "--wait", "20"],
    "coa_sweep": [*TINY, "--rounds", "1"],
    "experiment": [*TINY, "--requests", "300", "--rounds", "1", "@noop.sql"],
    "radius_guess": ["--quick"],
    "sheet_load": ["--quick"],
    "staff_login": ["--quick"],
    # This checkout against itself: the driver and its reading of the benches' output.
    "before_after": [".", "--tiny", "--rounds", "1"],
    "admin_pages": ["--tiny"],
}
# What a tiny run must still show (beyond exiting 0).
SHOWS = {
    "radius_auth": "mix/voucher-only, turn by turn",
    "radius_guess": "guessing device blocked: yes",
    "coa_sweep": "scan now/before",
    "usage_warnings": "sessions lost: 0",
    "sheet_load": "callback p99 ratio",
    "staff_login": "TOTP p99 / password-only p99",
    "before_after": "payments/s, 10 in flight",
    "admin_pages": "target p95 < 150 ms per page",
}
# A bench stack of one's own on a shared machine: MNETIFI_BENCH_RUN_DIR, MNETIFI_BENCH_PG_PORT,
# ... are the bench stack's MNETIFI_RUN_DIR, MNETIFI_PG_PORT, ... (deploy/stack.sh), and the
# benchmarks find it by MNETIFI_BENCH_RUN_DIR (bench/common.py).
OWN_STACK = "MNETIFI_BENCH_"


def _clean_env() -> dict[str, str]:
    """The test stack's MNETIFI_* settings (its run directory, its ports) must not leak into the
    bench stack's script or the benchmarks, which read the bench stack's own env file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNETIFI_")}
    own = {k: v for k, v in os.environ.items() if k.startswith(OWN_STACK)}
    return env | own | {"MNETIFI_" + k.removeprefix(OWN_STACK): v for k, v in own.items()}


@pytest.fixture(scope="module")
def bench_stack() -> Iterator[dict[str, str]]:
    env = _clean_env()
    up = subprocess.run(
        [str(STACK), "up", "bench"], env=env, capture_output=True, text=True, timeout=600
    )
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    try:
        yield env
    finally:
        subprocess.run([str(STACK), "down", "bench"], env=env, capture_output=True, timeout=120)


@pytest.mark.parametrize("name", list(BENCHES))
def test_the_benchmark_runs(bench_stack: dict[str, str], name: str, tmp_path: Path) -> None:
    noop = tmp_path / "noop.sql"
    noop.write_text("ANALYZE voucher;\n")  # an experiment that changes nothing
    args = [str(noop) if a == "@noop.sql" else a for a in BENCHES[name]]
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args],
        cwd=ROOT,
        env=bench_stack,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert SHOWS.get(name, "") in run.stdout


def test_every_benchmark_is_run_here() -> None:
    scripts = {
        p.stem
        for p in (ROOT / "bench").glob("*.py")
        if "def main" in p.read_text() and p.stem not in ("dataset", "loadgen")
    }
    assert scripts <= set(BENCHES), f"add a tiny run of {sorted(scripts - set(BENCHES))}"
