"""Browser tests: a real gateway on a free 127.0.0.1 port (uvicorn in a thread, on the test
database) and headless Chromium driving it over the DevTools protocol.

They skip only when no Chromium binary exists (`apt-get install chromium`; `.ci/run` installs
it). A failing test leaves a screenshot in a temporary folder and names it in its report;
set BROWSER_SCREENSHOTS=<folder> to keep one of every test.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from server import create_app
from settings import Settings
from tests.browser.cdp import Browser, Page, find_chromium, launch


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (skipped without it)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # read by the `page` fixture's teardown
    return report


@dataclass
class LiveServer:
    url: str
    app: Starlette


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary on PATH (apt-get install chromium)")
    return binary


@pytest.fixture(scope="module")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The whole gateway (lifespan, relay, WebSocket) served by uvicorn on a free port; per
    module, so its outbox relay is gone before the realtime tests count theirs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # Built here, served by the server thread's own event loop (lifespan included).
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws="websockets-sansio",  # as server.py serves
        ws_per_message_deflate=False,
        lifespan="on",
        ws_max_size=settings.max_body_bytes,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="live-gateway", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="module")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with launch(chromium) as running:
        yield running


def _screenshot_folder() -> Path:
    kept = os.environ.get("BROWSER_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return Path(tempfile.mkdtemp(prefix="browser-test-"))


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    opened = await browser.new_page()
    yield opened
    report = getattr(request.node, "report_call", None)
    failed = report is None or report.failed
    if failed or os.environ.get("BROWSER_SCREENSHOTS"):
        name = request.node.name.replace("/", "_")
        try:
            async with asyncio.timeout(10):
                path = await opened.screenshot(_screenshot_folder() / f"{name}.png")
            print(f"screenshot of {request.node.name}: {path}", file=sys.stderr)
            if failed:
                print(f"page problems: {opened.problems}", file=sys.stderr)
        except Exception as error:  # a dead browser: the test's own failure says more
            print(f"no screenshot of {request.node.name}: {error!r}", file=sys.stderr)
    await opened.close()
