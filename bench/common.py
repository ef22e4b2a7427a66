"""What the benchmarks share: the bench stack's settings, the router secret, and CPU accounting
per process group (FreeRADIUS, PostgreSQL) read from /proc."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# The bench stack's run directory; MNETIFI_BENCH_RUN_DIR names another bench stack (its own
# ports too: tests/test_benches.py), for one machine shared by several people's stacks.
RUN = Path(os.environ.get("MNETIFI_BENCH_RUN_DIR") or ROOT / ".run" / "bench")
OURS_ROUTER, BASE_ROUTER = "127.77.0.1", "127.77.0.2"
TICK = os.sysconf("SC_CLK_TCK")


def load_env(run: Path = RUN) -> dict[str, str]:
    env_file = run / "env"
    if not env_file.exists():
        raise SystemExit("start the bench stack first: ./deploy/stack.sh up bench")
    env = {}
    for line in env_file.read_text().splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    return env


def dsn_of(env: dict[str, str]) -> dict:
    url = make_url(env["MNETIFI_DATABASE_URL"])
    return {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "database": url.database,
    }


def router_secret(run: Path = RUN) -> str:
    secret_file = run / "secrets" / "bench-router-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(18))
    return secret_file.read_text()


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def postmaster_pid(port: int) -> int:
    """The bench cluster's postmaster: the process listening with our port on its command line."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline").read().split("\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith("postgres") and str(port) in cmd and "-p" in cmd:
                return int(entry)
    raise SystemExit("cannot find the bench PostgreSQL postmaster")


def ours_radius_pid() -> int:
    return int((RUN / "radius" / "radiusd.pid").read_text())


def ours_threads() -> str:
    """The bench stack's FreeRADIUS thread count (its rendered radiusd.conf), which every server
    a bench starts beside it is given too: the same thread and connection pools."""
    conf = (RUN / "raddb" / "radiusd.conf").read_text()
    return re.search(r"^\s*max_servers\s*=\s*(\d+)", conf, re.M).group(1)


@dataclass
class Cpu:
    radius_s: float
    postgres_s: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.radius_s - other.radius_s, self.postgres_s - other.postgres_s)

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.radius_s + other.radius_s, self.postgres_s + other.postgres_s)

    @property
    def total_s(self) -> float:
        return self.radius_s + self.postgres_s


def server_cpu(radius_pid: int, postmaster: int) -> Cpu:
    """CPU used so far by one FreeRADIUS process and the whole PostgreSQL cluster (postmaster
    and its backends), so the load generator's own CPU is left out of the comparison. A
    backend that has exited is counted in the postmaster's children's time."""
    radius = postgres = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat(int(entry))
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        ticks = int(fields[11]) + int(fields[12])
        if pid == radius_pid:
            radius += ticks
        elif pid == postmaster:
            postgres += ticks + int(fields[13]) + int(fields[14])
        elif ppid == postmaster:
            postgres += ticks
    return Cpu(radius / TICK, postgres / TICK)
