"""Shared benchmark helpers: start a gateway process (`server.py serve`) and always stop it.

Used by bench/subscription_fanout.py and bench/mix.py. The scratch-database helpers
(scratch_database, free_port, wait_until_ready, percentile) live in bench/catalog_page.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.catalog_page import free_port, wait_until_ready  # noqa: E402


@contextlib.asynccontextmanager
async def gateway(
    database_url: str,
    redis_url: str | None,
    log: Path,
    *,
    workers: int = 1,
    environment: Mapping[str, str] | None = None,
    ready_within: float = 30,
) -> AsyncIterator[Any]:
    """One gateway process (`workers` uvicorn workers) on a free 127.0.0.1 port, its output in
    `log`; yields (process, port) and always stops it (SIGTERM, then SIGKILL after 15 s).
    `environment` adds to / overrides the variables given to the server."""
    port = free_port()
    variables = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url or "",
        "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
        "ENVIRONMENT": "test",
        **(environment or {}),
    }
    with log.open("wb") as output:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "server.py",
            "serve",
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            cwd=ROOT,
            env=variables,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_until_ready(f"http://127.0.0.1:{port}/readyz", within_seconds=ready_within)
        yield server, port
    finally:
        if server.returncode is None:
            server.terminate()
            try:
                await asyncio.wait_for(server.wait(), 15)
            except TimeoutError:
                server.kill()
                await server.wait()
