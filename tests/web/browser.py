"""Helpers for the tests that drive the real app in Debian's Chromium through Playwright.

* :class:`AppServer` — the app under uvicorn in a thread of its own, on a port of its own;
* :func:`chromium` — the browser (the ``browser`` fixture in conftest launches it per test);
* :func:`open_page`, :func:`log_in`, :func:`fill_login` — pages in fresh contexts, logged in
  through the form as a person of the test world;
* :func:`serious_violations` (axe-core), :func:`watch` (console, errors and dialogs);
* :func:`runtime_for`, :func:`run_async` — database work from a test's synchronous code.

Engines belong to the event loop that opened them, so the server, the test's seeding and
checks each open their own.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from allsang.db import Database
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from allsang.web.app import create_app
from tests.conftest import TEST_KEY
from tests.web.conftest import PASSWORD

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def _new_runtime(settings: Settings) -> Runtime:
    return Runtime(
        settings=settings, db=Database(settings.sqlalchemy_url), secrets=SecretBox([TEST_KEY])
    )


@asynccontextmanager
async def runtime_for(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime on the test database with an engine of its own, disposed on the way out."""
    runtime = _new_runtime(settings)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()


def run_async(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end in a thread and event loop of its own; return its result.

    Playwright's sync API keeps an event loop running in the test's thread, where
    ``asyncio.run`` refuses to start another.
    """
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


class AppServer:
    """The app under uvicorn on 127.0.0.1, in a thread and event loop of its own.

    ``with AppServer(settings) as server:`` serves at ``server.url`` until the block ends;
    :meth:`stop` and :meth:`start` restart it on the same port (a fresh app and engine).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Chosen by the system at the first start (no race with another free-port probe),
        # then kept, so a restart is where the pages left it.
        self.port = 0
        self._running: tuple[uvicorn.Server, threading.Thread] | None = None

    @property
    def url(self) -> str:
        assert self.port, "the server has not started yet"
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self._running is None, "the server is already running"
        runtime = _new_runtime(self.settings)
        config = uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            # Open streams (SSE) would hold a graceful shutdown for ever; a second is enough.
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)

        async def serve() -> None:
            try:
                await server.serve()
            finally:
                await runtime.db.dispose()

        thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            server.should_exit = True
            thread.join(10)
            pytest.fail("the server did not start (its log is above)")
        self.port = server.servers[0].sockets[0].getsockname()[1]
        self._running = server, thread

    def stop(self) -> None:
        assert self._running is not None, "the server is not running"
        server, thread = self._running
        self._running = None
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "the server did not stop"

    def __enter__(self) -> AppServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # A test may have stopped it (and failed before starting it again).
        if self._running is not None:
            self.stop()


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's Chromium, headless, closed on the way out; ``extra_args`` are more flags.
    Skips the test where it is not installed, unless ``ALLSANG_REQUIRE_CHROMIUM`` is set (as
    ``scripts/test``, and so CI, sets it): there a missing browser fails the test."""
    if not CHROMIUM.exists():
        if os.environ.get("ALLSANG_REQUIRE_CHROMIUM"):
            pytest.fail(f"Debian's chromium is required and missing at {CHROMIUM}")
        pytest.skip("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=[*CHROMIUM_ARGS, *extra_args]
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(
    browser: Browser, *, locale: str | None = "en-GB", axe: bool = True, **options: Any
) -> Page:
    """A page in a context of its own (its own cookies); ``options`` go to the context.
    ``locale=None`` leaves Chromium's own."""
    context = browser.new_context(locale=locale, **options)
    if axe:
        # An init script is injected through DevTools, so the page's CSP (which rightly
        # refuses inline <script> tags, and so page.add_script_tag) does not block axe.
        context.add_init_script(path=str(AXE))
    return context.new_page()


def fill_login(page: Page, email: str) -> None:
    """Log in on the login form the page shows, as ``email`` of the test world."""
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def log_in(browser: Browser, server: str, email: str, **options: Any) -> Page:
    """A page of a fresh context (``options`` as for :func:`open_page`), logged in as
    ``email`` and on the home page."""
    page = open_page(browser, **options)
    page.goto(f"{server}/login")
    fill_login(page, email)
    page.wait_for_url(f"{server}/")
    return page


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] for node in v["nodes"][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


@dataclass
class PageLog:
    """What a page said that nobody sees: console lines, uncaught errors, dialogs."""

    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def csp_reports(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]


def watch(page: Page) -> PageLog:
    """Record what ``page`` logs from now on; dialogs are dismissed (and recorded)."""
    log = PageLog()
    page.on("console", lambda message: log.console.append(message.text))
    page.on("pageerror", lambda error: log.errors.append(str(error)))
    page.on("dialog", lambda dialog: (log.dialogs.append(dialog.message), dialog.dismiss()))
    return log
