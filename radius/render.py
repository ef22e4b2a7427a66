"""Render freeradius-config/ into a runnable raddb directory.

Every file is copied with its @NAME@ placeholders filled; an unfilled placeholder is an error,
so a typo never reaches a running server. Values come from the command line (the stack script
passes them) and contain no user input.

    python -m radius.render --out DIR --set DB_PORT=55432 --set AUTH_PORT=1812 ...
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "freeradius-config"
PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def default_threads(cores: int | None = None) -> int:
    """FreeRADIUS worker threads (and SQL connections, one each): two per core, at least four.

    A login is one round trip to PostgreSQL, so a thread waits little; more threads than that only
    add context switches (bench/experiment.py on 2 cores: 4 threads gave ~20% more logins per
    second than 8, and the PPPoE mix kept up better; README, Benchmark). A database on another
    host, with a longer round trip, may want more: MNETIFI_RADIUS_THREADS (deploy/stack.sh).
    """
    if cores is None:
        # The CPUs this process may run on (a container's cpuset), not every CPU of the host.
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(4, 2 * (cores or 2))


DEFAULTS = {
    "LISTEN_ADDR": "*",
    "REJECT_DELAY": "1",
    "DYNAMIC_CLIENT_LIFETIME": "600",
    "THREADS": str(default_threads()),
    "STATUS_CLIENT_IP": "127.0.0.254",
    "DB_HOST": "127.0.0.1",
    "DB_PASSWORD": "",
}


def render_text(text: str, values: dict[str, str], name: str) -> str:
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise SystemExit(f"{name}: no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def render(out: Path, values: dict[str, str], source: Path = SOURCE) -> None:
    merged = {**DEFAULTS, **values, "RADDB_DIR": str(out)}
    staging = out.with_name(out.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    for path in sorted(source.rglob("*")):
        if path.is_dir() or path.name == "README.md":
            continue
        target = staging / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_text(path.read_text(), merged, str(path.relative_to(source))))
        target.chmod(0o640)
    # Swap in whole, so a running server never sees a half-written tree.
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    values = dict(item.split("=", 1) for item in args.set)
    render(args.out.resolve(), values, args.source)
    return 0


if __name__ == "__main__":
    sys.exit(main())
