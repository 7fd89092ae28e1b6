"""The embedded PostgreSQL (db/embedded.py): a server whose owner was killed with -9 is stopped
by the next start, which runs its own and stops it when it exits; a stale postmaster.pid naming
an unrelated process leaves that process alone.

Real processes and a real pgserver under temporary directories (initdb and server starts)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from db.embedded import HANDLE_PIDS_FILE

ROOT = Path(__file__).resolve().parents[2]

# Starts the embedded server, says which postmaster serves it, then waits to be killed or exits.
OWNER = """
import sys, time
from pathlib import Path
from db.embedded import start_embedded_postgres
start_embedded_postgres(Path(sys.argv[1]))
pid = (Path(sys.argv[1]) / "pgdata" / "postmaster.pid").read_text().split()[0]
print(pid, flush=True)
if sys.argv[2] == "wait":
    time.sleep(600)
"""


def start_owner(data_dir: Path, then: str) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen(  # noqa: S603  (our own script, our own arguments)
        [sys.executable, "-c", OWNER, str(data_dir), then],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    line = owner.stdout.readline()
    assert line.strip().isdigit(), f"the owner said {line!r}"
    return owner, int(line)


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("embedded")
    path.chmod(0o755)  # under root, the server runs as the `pgserver` user
    return path


def test_a_server_orphaned_by_kill_9_is_stopped_by_the_next_start(data_dir: Path) -> None:
    first, orphan = start_owner(data_dir, "wait")
    second: subprocess.Popen[str] | None = None
    try:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        assert running(orphan), "pgserver's server outlives its killed owner"

        second, replacement = start_owner(data_dir, "exit")
        assert second.wait(timeout=120) == 0
        assert not running(orphan), "the orphan was not stopped"
        assert replacement != orphan
        # The new owner was the only one: its exit stopped its own server (pg_ctl stop -w).
        assert not running(replacement)
    finally:
        if running(orphan):
            os.kill(orphan, signal.SIGTERM)
        if second is not None and second.poll() is None:
            second.kill()


def test_a_stale_pid_file_naming_an_unrelated_process_leaves_it_alone(data_dir: Path) -> None:
    """After a reboot postmaster.pid may name a pid some other process now has: that process is
    neither signalled nor adopted as the server; a server of our own starts."""
    first, _ = start_owner(data_dir, "exit")  # initdb, then a clean stop: no postmaster.pid
    assert first.wait(timeout=120) == 0
    pgdata = data_dir / "pgdata"
    stranger = subprocess.Popen(["sleep", "600"])  # noqa: S607
    second: subprocess.Popen[str] | None = None
    try:
        # Its own start time, so only the name tells it from a postmaster.
        started = int(psutil.Process(stranger.pid).create_time())
        lines = [
            str(stranger.pid),
            str(pgdata),
            str(started),
            "5432",
            str(data_dir),
            "",
            "",
            "ready",
        ]
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
        (pgdata / HANDLE_PIDS_FILE).write_text("[]")

        second, server = start_owner(data_dir, "exit")
        assert second.wait(timeout=120) == 0
        assert server != stranger.pid
        assert stranger.poll() is None, "the unrelated process was signalled"
        assert running(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()
        if second is not None and second.poll() is None:
            second.kill()
