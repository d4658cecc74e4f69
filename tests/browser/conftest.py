"""Real-browser fixtures: Debian's chromium driven headless by Playwright, and a served brtrace.

The browser is the system's ``/usr/bin/chromium`` (Playwright never downloads
one); every request that is not to 127.0.0.1 is aborted, so a test page can
never reach the network (textual-serve's page asks Google for a font). A
server a test starts binds 127.0.0.1 on a free port, in its own process
group, and is killed in a ``finally`` with everything it started; the test
then checks that nothing of that group is left.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER_START_S = 30.0


def _need_browser() -> None:
    """Skip only when chromium is absent and we are not root: as root, setup installs it."""
    missing = [what for what, ok in (("chromium (/usr/bin/chromium)", os.path.exists(CHROMIUM)),
                                     ("playwright (pip)", importlib.util.find_spec("playwright") is not None))
               if not ok]
    if not missing:
        return
    if os.geteuid() == 0:
        pytest.fail(f"{' and '.join(missing)} missing: scripts/setup.sh installs them (make setup)")
    pytest.skip(f"{' and '.join(missing)} missing and not root (as root, scripts/setup.sh installs them)")


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One chromium for tests/browser, stopped when the package's tests end.

    Playwright's sync API keeps an asyncio loop running in this thread while it
    lives; session scope left it running for every later test of the run, and
    each asyncio.run() there (pyroute2, the TUI tests) failed with "cannot be
    called from a running event loop".
    """
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def _local_only(route: Any) -> None:
    host = urlsplit(route.request.url).hostname
    if route.request.url.startswith(("file:", "data:", "about:")) or host == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1500, "height": 950})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.route("**/*", _local_only)
    try:
        yield pg
    finally:
        ctx.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"brtrace serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"brtrace serve did not listen on 127.0.0.1:{port} in {SERVER_START_S}s")


def _kill_group(pgid: int, proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def serving(*what: str, tmp: Path) -> Iterator[tuple[str, int]]:
    """``brtrace serve`` on a free loopback port: yields (url, process group id)."""
    port = free_port()
    log = tmp / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tracer.cli.main", "serve", "--port", str(port),
                                 *what],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_listening(proc, port, log)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        _kill_group(proc.pid, proc)
        proc.wait(timeout=5)


# textual-serve keeps its xterm.js terminal in a closure and draws it on a
# canvas. The tests expose the terminal (one assignment added to the served
# script as it passes through the browser) only to switch on xterm's
# screen-reader mode, which mirrors every screen row into the DOM as text.
TERMINAL_HOOK = "this.terminal.open(e),"


def _expose_terminal(route: Any) -> None:
    resp = route.fetch()
    body = resp.text()
    assert TERMINAL_HOOK in body, "textual-serve's textual.js changed: update TERMINAL_HOOK"
    route.fulfill(response=resp, body=body.replace(
        TERMINAL_HOOK, TERMINAL_HOOK + "window.brtraceTerminal=this.terminal,"
        "this.terminal.options.screenReaderMode=!0,"))


def watch_terminal(page: Any) -> None:
    """Call before ``goto``: the served terminal's rows become DOM text."""
    page.route("**/static/js/textual.js", _expose_terminal)


def screen_text(page: Any) -> str:
    """The terminal's rows as the DOM holds them (xterm's accessibility tree)."""
    return str(page.evaluate(
        "() => { const e = document.querySelector('.xterm-accessibility-tree'); "
        "return e ? e.innerText : ''; }"))


def wait_for_text(page: Any, *needles: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = screen_text(page)
        if all(n in text for n in needles):
            return text
        time.sleep(0.25)
    missing = [n for n in needles if n not in text]
    pytest.fail(f"the served page never showed {missing}; it showed:\n{text[-3000:]}")


COLOURS_JS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data; const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
  return [c.width, c.height, seen.size];
}"""


def png_colours(browser: Any, png: bytes) -> tuple[int, int, int]:
    """(width, height, distinct colours sampled) of a PNG, decoded by the same browser."""
    import base64

    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        pg.route("**/*", _local_only)
        w, h, n = pg.evaluate(COLOURS_JS, "data:image/png;base64," + base64.b64encode(png).decode())
        return int(w), int(h), int(n)
    finally:
        ctx.close()


def stop_server(pgid: int, within_s: float = 10.0) -> float:
    """SIGTERM the server alone (as Ctrl+C would stop it); seconds until its whole group is gone."""
    t0 = time.monotonic()
    os.kill(pgid, signal.SIGTERM)
    while group_alive(pgid):
        if time.monotonic() - t0 > within_s:
            pytest.fail(f"brtrace serve and what it started still run {within_s}s after SIGTERM")
        try:
            os.waitpid(pgid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return time.monotonic() - t0
