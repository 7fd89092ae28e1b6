"""An embedded PostgreSQL (pgserver) for running the gateway with no database configured.

pgserver keeps the pids of the processes using a server in `<pgdata>/.handle_pids.json` and stops
the server when the last of them exits. A process killed with -9 never leaves that list, so its
server would be adopted by every later start and never stopped: a start first forgets the dead
ones and stops a server that no living process owns, then starts its own.

A `postmaster.pid` outlives a reboot or a crash, and its pid may then be an unrelated process's:
the pid counts as our server only while it is a postgres process started when the file says.
Otherwise the file is stale: it is removed (pgserver would adopt the stranger as the server, and
PostgreSQL would refuse to start beside it) and that process is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

HANDLE_PIDS_FILE = ".handle_pids.json"  # pgserver's list of the processes using the server
POSTGRES_NAMES = frozenset({"postgres", "postmaster"})
START_TIME_SLACK_S = 5


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _running_postmaster(pgdata: Path) -> int | None:
    """The pid of the postmaster running on pgdata, if any; a stale postmaster.pid (its process
    gone, or not the postgres that wrote it) is removed."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except OSError:
        return None
    try:
        # Line 1 is the postmaster's pid, line 3 its start time (epoch seconds).
        pid, started = int(lines[0]), int(lines[2])
    except (IndexError, ValueError):
        pid, started = 0, 0
    if pid > 0 and _is_postmaster(pid, started):
        return pid
    log.info("removing a stale %s (pid %s is not its server)", pid_file, pid or "unreadable")
    pid_file.unlink(missing_ok=True)
    return None


def _is_postmaster(pid: int, started: int) -> bool:
    """Whether `pid` is a living postgres process that started at `started`."""
    try:
        process = psutil.Process(pid)
        alive = process.status() != psutil.STATUS_ZOMBIE
        name, created = process.name(), process.create_time()
    except psutil.Error:
        return False
    # PostgreSQL notes its start time just after exec; psutil's create time is derived from
    # the boot time in whole seconds: a few seconds of slack, while a reused pid is far off.
    return alive and name in POSTGRES_NAMES and abs(created - started) <= START_TIME_SLACK_S


def _stop_orphan(pgdata: Path) -> None:
    """Forget owners that died without stopping their server; stop a server nobody alive owns."""
    handles = pgdata / HANDLE_PIDS_FILE
    try:
        owners: list[int] = json.loads(handles.read_text())
    except (OSError, ValueError):
        owners = []
    living = [pid for pid in owners if _is_alive(pid)]
    if living != owners:
        handles.write_text(json.dumps(living))
    postmaster = _running_postmaster(pgdata)
    if living or postmaster is None:
        return
    log.warning(
        "stopping the embedded PostgreSQL (pid %s) left running by a process that died (pids %s)",
        postmaster,
        owners,
    )
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # generated per binary

    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs it as this user under root
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        try:
            psutil.Process(postmaster).terminate()  # SIGTERM: PostgreSQL's "smart" shutdown
        except psutil.Error as error:  # gone meanwhile, or not ours to signal
            log.warning("could not stop the embedded PostgreSQL (pid %s): %s", postmaster, error)


def start_embedded_postgres(data_dir: Path, database: str = "gateway") -> str:
    """Start a PostgreSQL under data_dir (or share the one another living process of ours
    started there) and return an asyncpg URL for `database`.

    The server keeps running while this process lives; pgserver stops it at exit when no other
    process of ours uses it.
    """
    # pgserver narrates every initdb line at INFO and warns about XDG_RUNTIME_DIR on import.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver  # imported here: only the no-DATABASE_URL path needs it

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    with pgserver.postgres_server.PostgresServer._lock:  # the lock pgserver starts servers under
        _stop_orphan(pgdata)
    server = pgserver.get_server(pgdata, cleanup_mode="stop")
    if not database.isidentifier():
        raise ValueError(f"embedded database name must be a plain identifier: {database!r}")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
        log.info("created embedded database %s under %s", database, pgdata)
    uri: str = server.get_uri(database)
    return "postgresql+asyncpg://" + uri.split("://", 1)[1]
