#!/usr/bin/env python3
"""The auth, accounting and payment benchmarks of an earlier commit and of this checkout, in
alternating rounds on this machine, side by side with the ratio of each figure.

    .venv/bin/python bench/before_after.py 0bc8157 --rounds 3

The earlier commit gets a git worktree under .run/before/<commit>/ (its own venv, made by its
own deploy/stack.sh) and its own bench stack on ports of its own; this checkout uses the bench
stack. Each side runs its own bench scripts against its own stack, one side at a time, so the
two never compete for the CPU; alternating rounds spread a noisy neighbour over both. The median
round of each figure is shown, as after/before for rates and before/after for latencies, so a
ratio under 1 is always a loss.

Only figures steady enough to compare are shown: auth/s at saturation, accounting packets/s,
payments/s with 10 in flight and the p50 latencies of a payment (p99s on a shared 2-core
machine move by more than the 5% a change may cost).

REF "." runs this checkout against itself on the bench stack (tests/test_benches.py does, with
--tiny, to keep the driver and its parsing of the benches' output from rotting). Commits from
before the bench data set followed the schema (issue 12) get the one-line fix it needed: their
TRUNCATE of radacct also empties coa_request.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT

# The earlier commit's bench stack: the bench profile's ports + 10 (+ 30 for RADIUS, whose
# second server takes the next two).
BEFORE_PORTS = {
    "MNETIFI_PG_PORT": "55444",
    "MNETIFI_REDIS_PORT": "56391",
    "MNETIFI_AUTH_PORT": "31842",
    "MNETIFI_ACCT_PORT": "31843",
    "MNETIFI_API_PORT": "18110",
    "MNETIFI_DARAJA_PORT": "18212",
    "MNETIFI_SMTP_PORT": "18412",
    "MNETIFI_AT_PORT": "18312",
    "MNETIFI_META_PORT": "18512",  # the fake WhatsApps (ignored by commits before them)
    "MNETIFI_ATWA_PORT": "18612",
}
TINY = {
    "radius_auth": [
        "--vouchers",
        "200",
        "--sessions",
        "2000",
        "--requests",
        "400",
        "--rate",
        "200",
        "--seconds",
        "1",
    ],
    "radius_acct": ["--vouchers", "200", "--data-sessions", "2000", "--sessions", "200"],
    "payment_latency": ["--payments", "5", "--concurrency", "2", "--warmup", "1"],
}

# (bench, figure, pattern, higher is better); the last match in the bench's output counts.
FIGURES = [
    ("radius_auth", "auth/s at saturation", r"^mnetifi\s+saturation\s+(\d+)", True),
    ("radius_acct", "Accounting-Start/s", r"^Accounting-Start\s+(\d+)", True),
    ("radius_acct", "Interim-Update/s", r"^Interim-Update\s+(\d+)", True),
    (
        "payment_latency",
        "payment p50 ms, 1 in flight",
        r"(?s)sequential:.*?end to end \(t3-t0\)\s+([\d.]+)",
        False,
    ),
    (
        "payment_latency",
        "payment p50 ms, 10 in flight",
        r"(?s)concurrent:.*?end to end \(t3-t0\)\s+([\d.]+)",
        False,
    ),
    ("payment_latency", "payments/s, 10 in flight", r"concurrent: .*\(([\d.]+) payments/s\)", True),
]


@dataclass
class Side:
    name: str
    src: Path
    env: dict[str, str]
    figures: dict[str, list[float]] = field(default_factory=dict)

    def python(self) -> str:
        return str(self.src / ".venv" / "bin" / "python")


def clean_env() -> dict[str, str]:
    """Each stack writes its own env file; settings of another stack must not leak in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MNETIFI_")}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def worktree(ref: str) -> Path:
    """A checkout of ref under .run/before/, made once and reused."""
    commit = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    src = ROOT / ".run" / "before" / commit[:12] / "src"
    if not (src / ".git").exists():
        src.parent.mkdir(parents=True, exist_ok=True)
        git("worktree", "add", "--detach", str(src), commit)
    dataset = src / "bench" / "dataset.py"
    old = '"TRUNCATE radacct, radpostauth, voucher_device"'
    if old in dataset.read_text():
        dataset.write_text(
            dataset.read_text().replace(
                old, '"TRUNCATE radacct, radpostauth, voucher_device CASCADE"'
            )
        )
    return src


def stack_up(side: Side) -> None:
    print(f"==> {side.name}: bench stack ({side.src})", flush=True)
    up = subprocess.run(
        [str(side.src / "deploy" / "stack.sh"), "up", "bench"],
        cwd=side.src,
        env=side.env,
        capture_output=True,
        text=True,
    )
    if up.returncode:
        raise SystemExit(
            f"{side.name}: stack.sh up bench failed:\n{up.stdout[-2000:]}{up.stderr[-2000:]}"
        )


def run_bench(side: Side, bench: str, tiny: bool) -> None:
    args = ["--only", "mnetifi", "--rounds", "1"] if bench == "radius_auth" else []
    args += TINY[bench] if tiny else []
    run = subprocess.run(
        [side.python(), str(side.src / "bench" / f"{bench}.py"), *args],
        cwd=side.src,
        env=side.env,
        capture_output=True,
        text=True,
    )
    if run.returncode:
        raise SystemExit(f"{side.name}: {bench} failed:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
    for name, figure, pattern, _ in FIGURES:
        if name != bench:
            continue
        found = re.findall(pattern, run.stdout, re.MULTILINE)
        if not found:
            raise SystemExit(f"{side.name}: no '{figure}' in {bench}'s output:\n{run.stdout}")
        side.figures.setdefault(figure, []).append(float(found[-1]))


def report(before: Side, after: Side, ref: str) -> list[str]:
    """Prints the table; returns the figures worse than 0.95x."""
    print(
        f"\nbefore: {ref} ({before.src}); after: this checkout. Median of "
        f"{len(next(iter(after.figures.values())))} alternating rounds; ratio < 1 is a loss.\n"
    )
    print(f"  {'figure':<30} {'before':>9} {'after':>9} {'ratio':>7}   rounds before | after")
    worse = []
    for _, figure, _, higher in FIGURES:
        if figure not in after.figures:
            continue
        b, a = statistics.median(before.figures[figure]), statistics.median(after.figures[figure])
        ratio = (a / b if higher else b / a) if a and b else float("nan")
        if ratio < 0.95:
            worse.append(figure)
        rounds = (
            " ".join(f"{x:g}" for x in before.figures[figure])
            + " | "
            + " ".join(f"{x:g}" for x in after.figures[figure])
        )
        print(f"  {figure:<30} {b:9.1f} {a:9.1f} {ratio:6.2f}x   {rounds}")
    print("\nno figure below 0.95x" if not worse else f"\nbelow 0.95x: {', '.join(worse)}")
    return worse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help='the earlier commit, or "." for this checkout itself')
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny sizes (figures meaningless)")
    parser.add_argument("--keep", action="store_true", help="leave the earlier stack running")
    parser.add_argument("--benches", default=",".join(TINY), help="a comma-separated subset")
    args = parser.parse_args()
    if unknown := set(args.benches.split(",")) - set(TINY):
        parser.error(f"unknown bench {', '.join(sorted(unknown))} (one of {', '.join(TINY)})")

    after = Side("after", ROOT, clean_env())
    if args.ref == ".":
        before = Side("before", ROOT, clean_env())
    else:
        before = Side("before", worktree(args.ref), {**clean_env(), **BEFORE_PORTS})
    sides = [before, after] if before.src != ROOT else [after]
    for side in sides:
        stack_up(side)
    try:
        for i in range(args.rounds):
            for side in (before, after):
                print(f"  round {i + 1}, {side.name}", flush=True)
                for bench in args.benches.split(","):
                    run_bench(side, bench, args.tiny)
    finally:
        if before.src != ROOT and not args.keep:
            subprocess.run(
                [str(before.src / "deploy" / "stack.sh"), "down", "bench"],
                cwd=before.src,
                env=before.env,
                capture_output=True,
            )
    report(before, after, args.ref)
    print(f"\n{os.cpu_count()} cores shared by all processes")


if __name__ == "__main__":
    sys.exit(main())
