"""``brtrace drops`` on a terminal: every drop on the machine, grouped, refreshed live.

One worker thread polls the source (live, or a recording for tests) and
feeds the pure :class:`tracer.drops.DropTable`; the table widget is rebuilt
once per refresh interval, never per event. Names and reasons are inert Text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tracer.drops import DropRow, DropTable
from tracer.model import Event, SourceStats
from tracer.render.inert import inert
from tracer.source import EventSource

COLUMNS = ("netns", "device", "reason", "per s", "last interval", "total", "location")


class DropsApp(App[int]):
    """Drops grouped by (netns, device, reason), sorted by rate."""

    TITLE = "brtrace drops"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("q", "quit", "Quit"),
    ]
    CSS = "DataTable { height: 1fr; } #drops-status { height: 1; background: $panel; }"

    def __init__(self, source: EventSource, interval: float = 1.0) -> None:
        super().__init__()
        self.source = source
        self.table = DropTable(source.info.topology)
        self.interval = interval
        self.paused = False
        self.rows: list[DropRow] = []
        self.stats = SourceStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last = time.monotonic()

    def compose(self) -> ComposeResult:
        yield DataTable(id="drops", cursor_type="row")
        yield Static(id="drops-status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.set_interval(self.interval, self.refresh_rows)
        self._poll()
        self.refresh_rows()

    @work(thread=True, exclusive=True)
    def _poll(self) -> None:
        """The one worker: poll, count; the UI reads the counts on its own clock."""
        try:
            while not self._stop.is_set() and not self.source.exhausted:
                self.feed(self.source.poll(100), self.source.stats())
        finally:
            self.source.close()

    def feed(self, events: Sequence[Event], stats: SourceStats) -> None:
        with self._lock:
            self.table.feed(events)
            self.stats = stats

    def refresh_rows(self) -> None:
        if self.paused:
            return
        now = time.monotonic()
        with self._lock:
            self.rows = self.table.snapshot(max(now - self._last, 1e-3))
            total, lost = self.table.total, self.stats.lost
        self._last = now
        dt = self.query_one(DataTable)
        dt.clear()
        for r in sorted(self.rows, key=lambda r: (-r.per_s, -r.total)):
            dt.add_row(*(Text(inert(str(v))) for v in (r.netns, r.dev, r.reason, f"{r.per_s:.1f}",
                                                       r.count, r.total, r.location)))
        status = Text(f" {total} drops  ")
        status.append(f"lost {lost}", style="bold red" if lost else "")
        status.append("  paused" if self.paused else "")
        self.query_one("#drops-status", Static).update(status)

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.refresh_rows() if not self.paused else self.notify("paused")

    def stop_source(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for w in self.workers:
            w.cancel()
        deadline = time.monotonic() + timeout
        while not self.source.exhausted and time.monotonic() < deadline:
            time.sleep(0.01)
