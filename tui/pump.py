"""Worker-side plumbing: run a source in a thread and hand the UI coalesced batches.

The kernel can produce hundreds of thousands of events a second; the UI wants
at most ~20 updates a second. ``Coalescer`` collects polled batches and
passes them on once per interval, so the app does one correlate-and-update
pass per message whatever the event rate. It also waits for the app to
acknowledge a message before posting the next (``ack``): when the UI thread
falls behind a flood, the batches gather here into one larger message instead
of piling up as hundreds of queued messages, each paying the per-message
costs again (issue 18: the live TUI grew 10–16 % over the last 30 s of a
flood that way). Nothing is dropped: the batches wait, and ``buffered`` says
how many events do, for the status line. Batches are passed on *as they
were polled*, never flattened into one list of Events: a live batch is a lazy
record array the correlator files from its columns, and flattening it would
build every Event and take the slow path.

A *runner* is a function the worker thread calls with a :class:`WorkerLink`:
a plain source loop for replays (``source_runner``); the CLI builds the
others (``brtrace ping`` runs its probes inside one), so this package never
imports the probes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tracer.model import Event, SourceStats
from tracer.source import EventSource, SourceInfo, SourceWrapper

Batch = Sequence[Event]
Emit = Callable[[Batch, SourceStats], None]
FLUSH_INTERVAL_S = 0.05  # at most ~20 messages a second
WINDOW = 1  # messages the app may have queued, unprocessed: more only repeat per-message costs


@dataclass(frozen=True, slots=True)
class WorkerLink:
    """What a runner may do from the worker thread: hand over batches, ask whether to stop,
    and report the source it opened (a live runner opens it inside the worker)."""

    emit: Emit
    stopped: Callable[[], bool]
    opened: Callable[[SourceInfo, str], None]


Runner = Callable[[WorkerLink], None]


class Coalescer:
    """Accumulates batches; ``post(batches, stats)`` is called at most once per interval,
    and, with ``window``, only while fewer than ``window`` posted messages are unacknowledged."""

    def __init__(self, post: Callable[[list[Batch], SourceStats], None],
                 interval: float = FLUSH_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic, window: int | None = None) -> None:
        self._post, self._interval, self._clock = post, interval, clock
        self._buf: list[Batch] = []
        self._stats = SourceStats()
        self._last = -interval
        self._window = window
        self._unacked = 0
        self._lock = threading.Lock()  # ack() runs on the UI thread, push() on the worker
        self.posts = 0
        self.buffered = 0  # events gathered, not posted yet
        self._since: float | None = None  # when the oldest of them arrived

    def lag(self) -> float:
        """Seconds the oldest gathered batch has waited (0 when none waits)."""
        since = self._since
        return 0.0 if since is None else max(0.0, self._clock() - since)

    def push(self, batch: Batch, stats: SourceStats) -> None:
        if len(batch):
            if not self._buf:
                self._since = self._clock()
            self._buf.append(batch)
            self.buffered += len(batch)
        changed = stats != self._stats
        self._stats = stats
        if (self._buf or changed) and self._clock() - self._last >= self._interval and self._open():
            self.flush()

    def _open(self) -> bool:
        with self._lock:
            return self._window is None or self._unacked < self._window

    def ack(self) -> None:
        """The app finished one posted message (called from any thread)."""
        with self._lock:
            self._unacked = max(0, self._unacked - 1)

    def flush(self) -> None:
        """Post what was gathered now, window or not (the source ended)."""
        buf, self._buf = self._buf, []
        self._last = self._clock()
        self.posts += 1
        self.buffered = 0
        self._since = None
        with self._lock:
            self._unacked += 1
        self._post(buf, self._stats)


def source_runner(source: EventSource, poll_ms: int = 50) -> Runner:
    """Poll ``source`` until it is exhausted or the app stops; the source is closed after."""
    def run(link: WorkerLink) -> None:
        try:
            while not link.stopped() and not source.exhausted:
                link.emit(source.poll(poll_ms), source.stats())
        finally:
            source.close()
            link.emit([], source.stats())
    return run


class StoppableSource(SourceWrapper):
    """Passes a source through, reporting batches; raises KeyboardInterrupt once when stopped.

    For runners that hand the source to code with its own poll loop (``run_ping``):
    quitting the app becomes the KeyboardInterrupt that code already handles.
    """

    def __init__(self, source: EventSource, link: WorkerLink) -> None:
        super().__init__(source)
        self._link = link
        self._interrupted = False

    def poll(self, timeout_ms: int = 100) -> Batch:
        if self._link.stopped() and not self._interrupted:
            self._interrupted = True
            raise KeyboardInterrupt
        batch = self.source.poll(timeout_ms)
        self._link.emit(batch, self.source.stats())
        return batch
