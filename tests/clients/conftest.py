"""Real JavaScript clients (Apollo Client, urql, graphql-request, GraphQL Code Generator,
relay-compiler, graphql-http's audit) against the real gateway served on a free port.

Node scripts under js/ print one JSON document; the tests assert on it. The packages are pinned
in js/package-lock.json and installed once (`npm ci`, again only when the lock changes) into
js/node_modules. Without `node` and `npm` every test here is skipped (`apt-get install nodejs
npm`; .ci/run installs them), as they are with a Node older than 20.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from db.seed import seed
from settings import Settings
from tests.live_server import LiveServer, serve_gateway

JS = Path(__file__).parent / "js"
LOCK = JS / "package-lock.json"
# Written after a successful `npm ci`: the lock it installed.
INSTALLED_LOCK = JS / "node_modules" / ".installed-lock-sha256"

DEMO_PRODUCTS = 60
MINIMUM_NODE = 20


@pytest.fixture(scope="session")
def js_packages() -> Path:
    """js/node_modules as js/package-lock.json pins it."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("no node/npm on PATH (apt-get install nodejs npm)")
    version = subprocess.run(
        ["node", "--version"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MINIMUM_NODE:
        pytest.skip(f"node {version} is older than {MINIMUM_NODE} (graphql-ws 6 needs it)")
    wanted = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if not INSTALLED_LOCK.exists() or INSTALLED_LOCK.read_text() != wanted:
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S607
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if installed.returncode != 0:
            pytest.fail(f"npm ci failed:\n{installed.stderr[-4000:]}")
        INSTALLED_LOCK.write_text(wanted)
    return JS


def run_node(script: str, config: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Runs js/<script> with `config` as its JSON argument; the JSON it printed last."""
    finished = subprocess.run(  # noqa: S603 (our own scripts)
        ["node", script, json.dumps(config)],  # noqa: S607
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if finished.returncode != 0:
        pytest.fail(f"node {script} exited with {finished.returncode}:\n{finished.stderr[-4000:]}")
    lines = finished.stdout.strip().splitlines()
    assert lines, f"node {script} printed nothing:\n{finished.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_tool(
    arguments: list[str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """A command-line tool installed under js/node_modules/.bin (exit code not checked)."""
    binary = JS / "node_modules" / ".bin" / arguments[0]
    return subprocess.run(  # noqa: S603 (the pinned tools of js/package-lock.json)
        [str(binary), *arguments[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
async def demo_database_url(
    fresh_database: Callable[[], AbstractAsyncContextManager[AsyncEngine]],
    demo_password_hash: str,
) -> AsyncIterator[str]:
    """A database of its own seeded with the demo data, so the README's logins and queries
    work as written (the shared test database holds other tests' companies)."""
    async with fresh_database() as engine:
        await seed(engine, password_hash=demo_password_hash, products=DEMO_PRODUCTS)
        yield engine.url.render_as_string(hide_password=False)


def gateway_settings(settings: Settings, demo_database_url: str, **changes: Any) -> Settings:
    # A small pool: up to three of these servers run at once, beside the suite's own engine.
    update = {"database_url": demo_database_url, "db_pool_size": 4, **changes}
    return settings.model_copy(update=update)


@pytest.fixture(scope="session")
def gateway(settings: Settings, demo_database_url: str) -> Iterator[LiveServer]:
    with serve_gateway(gateway_settings(settings, demo_database_url)) as server:
        yield server


@pytest.fixture(scope="session")
def throttled_gateway(settings: Settings, demo_database_url: str) -> Iterator[LiveServer]:
    """A bucket of 30 points that hardly refills: a few catalog pages drain it."""
    tiny = gateway_settings(
        settings,
        demo_database_url,
        rate_limit_capacity=30,
        rate_limit_restore_rate=0.001,
        redis_key_prefix=f"{settings.redis_key_prefix}throttled:",
    )
    with serve_gateway(tiny) as server:
        yield server
