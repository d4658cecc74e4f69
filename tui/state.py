"""What the TUI's parts share: the app's state, declared once for every part that reads it.

``BrtraceApp`` is assembled from one class per concept (``ingest``,
``selection``, ``filtering``, ``saving``); each derives from this base so it
is a Textual ``App`` (its ``@on`` handlers register) and is type-checked
against the same attributes. Only ``BrtraceApp.__init__`` sets them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.app import App
from textual.timer import Timer

from tracer.correlate import Correlator
from tracer.correlate.pairing import PacketBook
from tracer.model import Hook, HookMode
from tracer.pcapf.offline import ExprCompiler, ExprFilter
from tracer.record.spill import SeenSpill
from tracer.source import EventSource, SourceInfo
from tracer.topology.model import Topology
from tui.diagnosis import Diagnoses
from tui.pump import Batch, Coalescer, Runner
from tui.rows import LightRows
from tui.widgets.status import StatusBar, StatusFacts


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch received, not correlated yet: its spill chunk (-1 = not spilled), the
    batch itself or None when it waits on disk only (``ingest.Ingest``), its size."""

    chunk: int
    batch: Batch | None
    events: int


class AppState(App[int]):
    """Attributes of the running app; see ``BrtraceApp.__init__`` for their meaning."""

    info: SourceInfo | None
    runner: Runner | None
    corr: Correlator
    book: PacketBook
    topo: Topology
    seen: SeenSpill  # every batch, as polled, on disk (tracer/record/spill.py): what a save writes
    rows: LightRows  # settled packets keep a light row; hops rebuilt from ``seen`` (tui/rows.py)
    held: list[Pending]  # what arrived while paused
    facts: StatusFacts
    filter_text: str
    compile_filter: ExprCompiler | None  # libpcap, injected by the CLI (tui does not import probes)
    pcap: ExprFilter | None  # the filter box's text as a pcap expression, when it compiles as one
    _pcap_shown: set[int]  # packets the expression selected so far
    _filter_timer: Timer | None  # a long list's filter, applied once typing pauses
    save_dir: Path
    saved: list[str]
    hook_modes: dict[Hook, HookMode]
    teach: str | None  # teaching mode: language of hop explanations, or off
    lang: str  # the language `e` turns teaching mode on in (replay --lang)
    source_done: threading.Event
    _stopping: threading.Event
    _last_hop: tuple[int | None, int, int, str] | None
    diagnoses: Diagnoses  # the selected packet's drop diagnosis, cached per packet state
    source: EventSource | None  # asked for damage when it ends (a salvaged recording)
    _settled: int  # packets ingested since the last gc.freeze
    _coalescer: Coalescer | None  # the worker's; acknowledged once per message handled
    _backlog: deque[Pending]  # received, not correlated yet (a slice per UI turn)
    _queued: int  # events in the backlog and ``held``, in memory or not
    _draining: bool  # a slice of the backlog is scheduled
    _drained_at: float  # when the last slice of the backlog was correlated (monotonic)
    _view_new: list[int]  # packets ingested, not yet listed (the view redraws ≤ 10 times/s)
    _view_touched: set[int]  # packets changed since the last redraw
    _view_at: float  # when the view was last redrawn (monotonic), -1 = never
    _collected_at: float  # when the view last ran the collector (monotonic)
    _view_timer: Timer | None  # the pending redraw, if one is scheduled
    _shown_packet: tuple[object, ...] | None  # what the journey pane shows (skip equal redraws)
    _rate_interval: float | None
    _clock: Callable[[], float]
    _rate_mark: tuple[int, float]

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(self.facts)

    def filter_shows(self, pid: int) -> bool:
        """Whether the filter box lets packet ``pid`` in (``filtering.Filtering``)."""
        raise NotImplementedError

    def filter_late(self, touched: set[int]) -> list[int]:
        """Changed packets the filter lets in only now (``filtering.Filtering``)."""
        raise NotImplementedError

    def filter_new(self, new: list[int]) -> list[int]:
        """New packets the filter lets in, noted as listed (``filtering.Filtering``)."""
        raise NotImplementedError

    def queue_ingest(self, entries: list[Pending]) -> None:
        """Correlate batches a slice per UI turn (``ingest.Ingest``)."""
        raise NotImplementedError

    def _drain(self, everything: bool = False) -> None:
        """Correlate the backlog, all of it if ``everything`` (``ingest.Ingest``)."""
        raise NotImplementedError

    def _apply(self, changed: set[int], final: bool, chunks: tuple[int, int] | None = None) -> None:
        """Judge changed packets and queue them for the view (``ingest.Ingest``)."""
        raise NotImplementedError

    def note_backlog(self) -> None:
        """Count what waits to be shown, for the status line (``ingest.Ingest``)."""
        raise NotImplementedError

    def restart_stalled_drain(self) -> None:
        """Drain a backlog whose next slice never came (``ingest.Ingest``)."""
        raise NotImplementedError

    def redraw_view(self) -> None:
        """List what was ingested since the last redraw (``ingest.Ingest``)."""
        raise NotImplementedError

    def _show_packet(self, pid: int | None, to_last: bool) -> None:
        """Show packet ``pid`` in the journey pane (``selection.Selection``)."""
        raise NotImplementedError
