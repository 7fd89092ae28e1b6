"""Browser tests: a real gateway on a free 127.0.0.1 port (uvicorn in a thread, on the test
database) and headless Chromium driving it over the DevTools protocol.

They skip only when no Chromium binary exists (`apt-get install chromium`; `.ci/run` installs
it). A failing test leaves a screenshot in a temporary folder and names it in its report;
set BROWSER_SCREENSHOTS=<folder> to keep one of every test.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from settings import Settings
from tests.browser.cdp import Browser, Page, find_chromium, launch
from tests.live_server import LiveServer, serve_gateway


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (skipped without it)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)  # read by the `page` fixture's teardown
    return report


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary on PATH (apt-get install chromium)")
    return binary


@pytest.fixture(scope="module")
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Per module, so its outbox relay is gone before the realtime tests count theirs."""
    with serve_gateway(settings) as server:
        yield server


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
