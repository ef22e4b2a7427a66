"""deploy/stack.sh itself: what a clean clone finds left over from an earlier one."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = ROOT / "deploy" / "stack.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stack(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACK), cmd, "bench"], env=env, capture_output=True, text=True, timeout=120
    )


def _can_sign_in(port: int, run: Path) -> bool:
    password = (run / "secrets" / "db-password").read_text().strip()
    probe = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "mnetifi",
            "-d",
            "postgres",
            "-tAc",
            "SELECT 1",
        ],
        env={**os.environ, "PGPASSWORD": password},
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() == "1"


def test_a_new_run_directory_at_the_same_path_gets_a_database_it_can_sign_in_to(tmp_path):
    """CI clones into the same path every time. As root the cluster lives in /var/tmp, keyed by
    the run directory's path, so it outlives the clone; the new clone's password must not meet
    the old cluster's (it did: 'password authentication failed for user "mnetifi"')."""
    run = tmp_path / "run"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNETIFI_")}
    env |= {"MNETIFI_RUN_DIR": str(run), "MNETIFI_PG_PORT": str(port)}
    try:
        assert _stack("db-start", env).returncode == 0
        first = (run / "secrets" / "db-password").read_text()
        assert _can_sign_in(port, run)

        # The clone is deleted (as root its cluster, elsewhere, still runs) and cloned again at
        # the same path. Without root the cluster is inside the run directory: stop it first.
        if os.geteuid() != 0:
            _stack("db-stop", env)
        shutil.rmtree(run)
        started = _stack("db-start", env)
        assert started.returncode == 0, started.stderr
        assert (run / "secrets" / "db-password").read_text() != first
        assert _can_sign_in(port, run)
    finally:
        _stack("db-stop", env)
        if os.geteuid() == 0:
            digest = hashlib.sha256(str(run).encode()).hexdigest()[:10]
            shutil.rmtree(f"/var/tmp/mnetifi-{digest}", ignore_errors=True)


def _listener(cwd: Path, port: int) -> subprocess.Popen:
    """A server on port whose working directory is cwd, as the stack's processes run."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the listener did not start")


def _leftovers(
    mine: list[Path], tcp: int, pidfiles: tuple[Path, ...] = ()
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "deploy" / "leftovers.py"),
            "--mine",
            *map(str, mine),
            "--tcp",
            str(tcp),
            "--pidfile",
            *map(str, pidfiles),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_server_left_by_a_deleted_run_directory_is_stopped_and_a_strangers_is_not(tmp_path):
    root, run, elsewhere = tmp_path / "clone", tmp_path / "clone" / ".run" / "bench", tmp_path / "x"
    run.mkdir(parents=True)
    elsewhere.mkdir()
    port = _free_port()

    # The stack's own server, named in its pid file, stays.
    own = _listener(run, port)
    try:
        (run / "api.pid").write_text(f"{own.pid}\n")
        kept = _leftovers([root, run], port, (run / "api.pid",))
        assert kept.returncode == 0 and own.poll() is None, kept.stderr

        # The run directory is deleted under it: it is a leftover now, and is stopped.
        shutil.rmtree(run)
        run.mkdir(parents=True)
        stopped = _leftovers([root, run], port, (run / "api.pid",))
        assert stopped.returncode == 0, stopped.stderr
        assert own.wait(timeout=10) is not None
        assert "leftover" in stopped.stderr
    finally:
        own.kill()

    # A server of someone else's on the port is named, refused, and left running.
    stranger = _listener(elsewhere, port)
    try:
        refused = _leftovers([root, run], port)
        assert refused.returncode == 1
        assert f"port {port} is taken by pid {stranger.pid}" in refused.stderr
        assert stranger.poll() is None
    finally:
        stranger.kill()


def test_a_thread_count_that_is_not_a_number_stops_the_script_before_anything_starts():
    """MNETIFI_RADIUS_THREADS goes into FreeRADIUS's configuration: only a positive whole number."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNETIFI_")}
    for bad in ("0", "four", "4; reboot", "4\n$INCLUDE /etc/shadow"):
        done = _stack("status", env | {"MNETIFI_RADIUS_THREADS": bad})
        assert done.returncode == 2, bad
        assert "MNETIFI_RADIUS_THREADS must be a number of threads" in done.stderr
    for good in ("", "6"):
        assert _stack("status", env | {"MNETIFI_RADIUS_THREADS": good}).returncode == 0, good


def test_generated_secrets_are_given_to_options_as_one_word():
    """A generated secret (token_urlsafe) starts with "-" one time in 64; given as a word of its
    own after --secret, argparse takes it for an option and the demo seeding stops `up` (it did,
    once, in a fresh clone). Every secret read from the run's secrets goes in as --option=value."""
    script = STACK.read_text()
    separate = re.findall(r'--[a-z-]+ "\$\(cat "\$RUN/secrets/[^"]+"\)"', script)
    assert separate == []
    assert '--secret="$(cat "$RUN/secrets/demo-router-secret")"' in script
