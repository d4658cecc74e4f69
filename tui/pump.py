"""Worker-side plumbing: run a source in a thread and hand the UI coalesced batches.

The kernel can produce hundreds of thousands of events a second; the UI wants
at most ~20 updates a second. ``Coalescer`` collects polled batches and
passes them on once per interval, so the app does one correlate-and-update
pass per message whatever the event rate. A *runner* is a function the worker
thread calls with ``emit(batch, stats)`` and ``stopped()``: a plain source
loop for replays, ``tui.live`` for ``brtrace ping``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tracer.model import Event, SourceStats
from tracer.source import EventSource

Emit = Callable[[Sequence[Event], SourceStats], None]
Runner = Callable[[Emit, Callable[[], bool]], None]
FLUSH_INTERVAL_S = 0.05  # at most ~20 messages a second


class Coalescer:
    """Accumulates batches; ``post(events, stats)`` is called at most once per interval."""

    def __init__(self, post: Callable[[list[Event], SourceStats], None],
                 interval: float = FLUSH_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._post, self._interval, self._clock = post, interval, clock
        self._buf: list[Event] = []
        self._stats = SourceStats()
        self._last = -interval
        self.posts = 0

    def push(self, batch: Sequence[Event], stats: SourceStats) -> None:
        self._buf.extend(batch)
        changed = stats != self._stats
        self._stats = stats
        if (self._buf or changed) and self._clock() - self._last >= self._interval:
            self.flush()

    def flush(self) -> None:
        buf, self._buf = self._buf, []
        self._last = self._clock()
        self.posts += 1
        self._post(buf, self._stats)


def source_runner(source: EventSource, poll_ms: int = 50) -> Runner:
    """Poll ``source`` until it is exhausted or the app stops; the source is closed after."""
    def run(emit: Emit, stopped: Callable[[], bool]) -> None:
        try:
            while not stopped() and not source.exhausted:
                emit(source.poll(poll_ms), source.stats())
        finally:
            source.close()
            emit([], source.stats())
    return run
