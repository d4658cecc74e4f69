"""textual-serve's server, made to stop its browser tabs' apps when it stops.

On Ctrl+C or SIGTERM aiohttp waits up to a minute for open websockets, and
the app a tab started keeps running meanwhile (a live ``ping`` with its
probes attached). Here each tab's handler is cancelled when the server shuts
down, which makes textual-serve tell its app to quit; an app still running
a few seconds later is killed, so nothing the server started outlives it.
"""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import time
from typing import Any

from aiohttp import web
from textual_serve.server import Server

QUIT_GRACE_S = 3.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            continue
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first-come), from /proc."""
    out: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        out.append(child)
        todo += _children(child)
    return out


def kill_descendants(grace_s: float = 1.0) -> None:
    """SIGTERM every process this one started, SIGKILL what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = descendants(os.getpid())
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while pids and time.monotonic() < deadline:
            _reap()
            pids = [p for p in pids if os.path.exists(f"/proc/{p}") and not _zombie(p)]
            time.sleep(0.05)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


class TabServer(Server):
    """A textual-serve Server whose shutdown ends every tab's app."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._tabs: dict[asyncio.Task[Any], asyncio.Event] = {}

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        task, done = asyncio.current_task(), asyncio.Event()
        if task is not None:
            self._tabs[task] = done
        try:
            return await super().handle_websocket(request)
        finally:
            done.set()
            if task is not None:
                self._tabs.pop(task, None)

    async def on_shutdown(self, app: web.Application) -> None:
        tabs = dict(self._tabs)
        for task in tabs:
            task.cancel()
        waits = [asyncio.create_task(done.wait()) for done in tabs.values()]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=QUIT_GRACE_S)
            for w in pending:
                w.cancel()
        kill_descendants()
