"""Stops what an earlier copy of a stack left running, before the stack starts.

    python3 deploy/leftovers.py --mine ROOT RUN PGDIR --tcp PORT... --udp PORT... --pidfile F...

A stack's processes outlive its run directory when the directory is deleted under them (a CI
machine that clones into the same path every run; `rm -rf .run`). The next stack then finds its
private ports taken by servers holding another password, or a worker taking jobs from its Redis.

A process is a leftover of this stack when it holds one of the stack's ports, or carries the
stack's MNETIFI_RUN_DIR in its environment, and its working directory or command line is under
one of the --mine paths, and no pid file of the running stack names it. Leftovers get SIGTERM
(SIGINT for PostgreSQL: a fast shutdown), then SIGKILL. A port held by anything else is not ours
to stop: the script names the process and exits 1.

Linux only: it reads /proc. Standard library only: it runs before the venv exists.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

LISTEN_TCP = "0A"


def _socket_inodes(ports: set[int], tables: tuple[str, ...], tcp: bool) -> dict[int, int]:
    """inode -> port for the listening (TCP) or bound (UDP) sockets on these ports."""
    found = {}
    for table in tables:
        try:
            lines = Path("/proc/net", table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if port in ports and (not tcp or fields[3] == LISTEN_TCP):
                found[int(fields[9])] = port
    return found


def _holders(inodes: dict[int, int]) -> dict[int, int]:
    """pid -> port for the processes holding any of these socket inodes."""
    holders = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inode = int(target[8:-1])
                    if inode in inodes:
                        holders[int(proc.name)] = inodes[inode]
                        break
        except OSError:
            continue
    return holders


SERVICES = (b"api.main:app", b"api.worker.WorkerSettings")


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path("/proc", str(pid), "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _carrying(run_dir: str) -> set[int]:
    """The API and worker processes whose environment names run_dir (a shell that sourced the
    stack's env file, or a test run, carries it too, and is left alone)."""
    needle = f"MNETIFI_RUN_DIR={run_dir}".encode()
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if any(s in cmdline for s in SERVICES) and needle in (
                proc / "environ"
            ).read_bytes().split(b"\0"):
                pids.add(int(proc.name))
        except OSError:
            continue
    return pids - _ancestors()


def _describe(pid: int) -> tuple[str, str]:
    proc = Path("/proc", str(pid))
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        cwd = os.readlink(proc / "cwd")
    except OSError:
        return "", ""
    return cmdline.strip(), cwd.removesuffix(" (deleted)")


def _under(text: str, paths: list[str]) -> bool:
    return any(p and (text == p or f"{p}/" in text or f"{p} " in f"{text} ") for p in paths)


def _stop(pid: int, cmdline: str) -> None:
    first = signal.SIGINT if "postgres" in cmdline.split(" ", 1)[0] else signal.SIGTERM
    try:
        os.kill(pid, first)
        for _ in range(100):
            time.sleep(0.1)
            if not _alive(pid):
                return
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        return Path("/proc", str(pid), "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _pids_in(files: list[str]) -> set[int]:
    pids = set()
    for name in files:
        try:
            pids.add(int(Path(name).read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mine", nargs="+", required=True, help="ROOT RUN [PGDIR]: our paths")
    parser.add_argument("--tcp", nargs="*", type=int, default=[])
    parser.add_argument("--udp", nargs="*", type=int, default=[])
    parser.add_argument("--pidfile", nargs="*", default=[], help="the running stack's pid files")
    args = parser.parse_args()

    ours = _pids_in(args.pidfile)
    inodes = _socket_inodes(set(args.tcp), ("tcp", "tcp6"), tcp=True)
    inodes |= _socket_inodes(set(args.udp), ("udp", "udp6"), tcp=False)
    suspects = _holders(inodes)
    suspects |= {pid: 0 for pid in _carrying(args.mine[1]) if pid not in suspects}

    stranger = False
    for pid, port in sorted(suspects.items()):
        if pid in ours:
            continue
        cmdline, cwd = _describe(pid)
        if not cmdline:
            continue  # it has gone
        if _under(cwd, args.mine) or _under(cmdline, args.mine) or port == 0:
            where = f"port {port}" if port else "no port"
            print(
                f"stopping a leftover of an earlier stack ({where}, pid {pid}): {cmdline}",
                file=sys.stderr,
            )
            _stop(pid, cmdline)
        else:
            print(
                f"port {port} is taken by pid {pid} ({cmdline}, in {cwd}): stop it or pick "
                "other ports (MNETIFI_*_PORT)",
                file=sys.stderr,
            )
            stranger = True
    return 1 if stranger else 0


if __name__ == "__main__":
    sys.exit(main())
