"""What the TUI's parts share: the app's state, declared once for every part that reads it.

``BrtraceApp`` is assembled from one class per concept (``ingest``,
``selection``, ``filtering``, ``saving``); each derives from this base so it
is a Textual ``App`` (its ``@on`` handlers register) and is type-checked
against the same attributes. Only ``BrtraceApp.__init__`` sets them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from textual.app import App

from tracer.correlate import Correlator
from tracer.correlate.pairing import PacketBook
from tracer.model import Hook, HookMode
from tracer.record.spill import SeenSpill
from tracer.source import EventSource, SourceInfo
from tracer.topology.model import Topology
from tui.diagnosis import Diagnoses
from tui.pump import Batch, Runner
from tui.rows import LightRows
from tui.widgets.status import StatusBar, StatusFacts


class AppState(App[int]):
    """Attributes of the running app; see ``BrtraceApp.__init__`` for their meaning."""

    info: SourceInfo | None
    runner: Runner | None
    corr: Correlator
    book: PacketBook
    topo: Topology
    seen: SeenSpill  # every batch, as polled, on disk (tracer/record/spill.py): what a save writes
    rows: LightRows  # settled packets keep a light row; hops rebuilt from ``seen`` (tui/rows.py)
    _chunked: int  # spill chunks already ingested (the next ingest spans from here)
    held: list[Batch]  # batches that arrived while paused
    facts: StatusFacts
    filter_text: str
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
    _rate_interval: float | None
    _clock: Callable[[], float]
    _rate_mark: tuple[int, float]

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(self.facts)

    def _show_packet(self, pid: int | None, to_last: bool) -> None:
        """Show packet ``pid`` in the journey pane (``selection.Selection``)."""
        raise NotImplementedError
