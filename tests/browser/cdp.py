"""A small client for headless Chromium over the DevTools protocol (CDP): Debian's `chromium`,
driven through the `websockets` package the gateway already installs. No Selenium, no
Playwright and no browser download.

A page records what a person would see go wrong: console errors, uncaught exceptions,
resources that failed to load, and Content-Security-Policy violations.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Runs in every document before its own scripts (CDP-injected scripts are not subject to the
# page's CSP): every CSP violation, including those the console would not show.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}` +
      ` (${event.sourceFile || ""}:${event.lineNumber || 0})`
  );
});
"""


class BrowserError(Exception):
    """CDP answered a command with an error, or the browser did not start."""


def find_chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, else the first browser on PATH."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return shutil.which(configured)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """One tab, attached over the browser's connection (a flat CDP session)."""

    browser: Browser
    session_id: str
    problems: list[str] = field(default_factory=list)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self.browser.send(method, params, session_id=self.session_id)

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"uncaught: {text}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            self.problems.append(f"console.{params['type']}: {' '.join(map(str, args))}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.problems.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")

    async def goto(self, url: str, within: float = 15) -> None:
        """Open `url` and wait until the document and its resources have loaded."""
        navigated = await self.send("Page.navigate", url=url)
        if navigated.get("errorText"):
            raise BrowserError(f"{url}: {navigated['errorText']}")
        await self.wait_for("document.readyState === 'complete'", within=within)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise BrowserError(
                details.get("exception", {}).get("description") or details.get("text")
            )
        return answer["result"].get("value")

    async def wait_for(self, expression: str, within: float = 10, every: float = 0.05) -> Any:
        """Poll `expression` until it is truthy (for at most `within` seconds); its value."""
        async with asyncio.timeout(within):
            while True:
                value = await self.evaluate(expression)
                if value:
                    return value
                await asyncio.sleep(every)

    async def click(self, selector: str) -> None:
        found = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.click(); return true; })()"
        )
        if not found:
            raise BrowserError(f"nothing to click at {selector}")

    async def type_text(self, text: str) -> None:
        """Type into the focused element, as an input method would."""
        await self.send("Input.insertText", text=text)

    async def csp_violations(self) -> list[str]:
        return list(await self.evaluate("window.__cspViolations || []"))

    async def close(self) -> None:
        self.browser.pages.pop(self.session_id, None)
        with contextlib.suppress(BrowserError):
            await self.send("Page.close")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        return path


@dataclass
class Browser:
    process: asyncio.subprocess.Process
    connection: ClientConnection
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=itertools.count)
    reader: asyncio.Task[None] | None = None

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        answer = asyncio.get_running_loop().create_future()
        self.pending[message_id] = answer
        await self.connection.send(json.dumps(message))
        async with asyncio.timeout(30):
            return await answer

    async def _read(self) -> None:
        try:
            await self._dispatch()
        finally:
            for answer in self.pending.values():
                if not answer.done():
                    answer.set_exception(BrowserError("the browser closed its connection"))

    async def _dispatch(self) -> None:
        async for raw in self.connection:
            message = json.loads(raw)
            if "id" in message:
                answer = self.pending.pop(message["id"], None)
                if answer is None or answer.done():
                    continue
                if "error" in message:
                    answer.set_exception(BrowserError(message["error"].get("message")))
                else:
                    answer.set_result(message.get("result", {}))
            elif message.get("sessionId") in self.pages:
                self.pages[message["sessionId"]].on_event(message["method"], message["params"])

    async def new_page(self, width: int = 1400, height: int = 900) -> Page:
        target = await self.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self, attached["sessionId"])
        self.pages[page.session_id] = page
        for domain in ("Page", "Runtime", "Log"):
            await page.send(f"{domain}.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        await page.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_CSP_VIOLATIONS)
        return page


async def _devtools_url(profile: Path, process: asyncio.subprocess.Process) -> str:
    """Chromium writes its DevTools port and path into the profile once it listens."""
    port_file = profile / "DevToolsActivePort"
    while True:
        if process.returncode is not None:
            raise BrowserError(f"chromium exited with {process.returncode}")
        with contextlib.suppress(FileNotFoundError):
            lines = port_file.read_text().split()
            if len(lines) >= 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def launch(binary: str, start_within: float = 10) -> AsyncIterator[Browser]:
    """A headless Chromium with a throwaway profile, ended when the block ends."""
    # Chromium's helper processes may still be writing the profile as the browser exits: a
    # leftover file must not fail the test (the whole process group is ended below).
    with tempfile.TemporaryDirectory(prefix="cdp-profile-", ignore_cleanup_errors=True) as scratch:
        profile = Path(scratch)
        process = await asyncio.create_subprocess_exec(
            binary,
            "--headless=new",
            "--no-sandbox",  # root in a container: the sandbox cannot start
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(start_within):
                url = await _devtools_url(profile, process)
            async with connect(url, max_size=None, ping_interval=None) as connection:
                browser = Browser(process, connection)
                browser.reader = asyncio.create_task(browser._read(), name="cdp-reader")
                try:
                    yield browser
                finally:
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(5):
                            await browser.send("Browser.close")
                    browser.reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await browser.reader
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
            try:
                async with asyncio.timeout(5):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
            # Its helpers (zygote, GPU, crashpad) too, before the profile is removed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
