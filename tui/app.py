"""BrtraceApp: topology map, packet list, journey, detail and status, fed by one worker.

One thread worker runs the source (a runner, see ``tui.pump``) and posts
coalesced ``EventsArrived`` messages (``tui.messages``); the app spills each,
feeds the correlator a slice at a time and redraws only what changed, at
most 5 times a second (``tui.ingest``). Nothing on the UI
thread waits on the source. The app is assembled from one part per concept:
``ingest`` (incoming batches), ``selection`` (packet, hop, map, detail),
``filtering`` (the filter box) and ``saving`` (the ``s`` key).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from tracer.correlate import Correlator
from tracer.correlate.pairing import PacketBook
from tracer.model import SourceStats
from tracer.pcapf.offline import ExprCompiler
from tracer.record.spill import SeenSpill
from tracer.render.inert import inert
from tracer.source import EventSource, SourceInfo
from tracer.topology.model import Topology
from tui.diagnosis import Diagnoses
from tui.filtering import Filtering
from tui.help import HelpScreen
from tui.ingest import Ingest
from tui.messages import EventsArrived, SourceEnded, SourceOpened
from tui.playback import Playback
from tui.pump import WINDOW, Batch, Coalescer, Runner, WorkerLink, source_runner
from tui.rows import LightRows
from tui.saving import Saving
from tui.selection import Selection
from tui.state import Pending
from tui.widgets.detail import DetailPane
from tui.widgets.journey import REPLY, REQUEST, JourneyTable
from tui.widgets.keys import STEP_KEYS
from tui.widgets.packet_list import PacketList, header
from tui.widgets.status import StatusBar, StatusFacts
from tui.widgets.topology import TopologyPane

NARROW = 100  # columns below which the panes take their compact forms


class BrtraceApp(Ingest, Selection, Filtering, Saving, Playback):
    """Watch packets walk the topology, live or from a recording.

    Give it a ``source`` (a replay, or a live source already attached), or a
    ``runner`` that opens its own source inside the worker (``brtrace ping``
    sends its probes there) and reports it through ``WorkerLink.opened``.
    """

    CSS_PATH = "styles.tcss"
    TITLE = "brtrace"
    # Footer labels are short so every key fits 80 columns; the help screen gives the long ones.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause", key_display="spc",
                tooltip="pause the view (step mode: next hop)"),
        Binding("n", "next_packet", "Pkt", key_display="n/p", tooltip="next packet"),
        Binding("p", "prev_packet", "Prev", tooltip="previous packet", show=False),
        Binding("j", "step(1)", "Hop", key_display="j/k", tooltip="next hop of this packet"),
        Binding("k", "step(-1)", "Hop ↑", tooltip="previous hop of this packet", show=False),
        *STEP_KEYS,
        Binding("f", "toggle_follow", "Follow", tooltip="follow: select the newest packet as it comes"),
        Binding("e", "toggle_explain", "Explain", tooltip="teaching mode: what the kernel did at each hop"),
        Binding("s", "save", "Save", tooltip="save what was seen to a .brt recording (says where)"),
        Binding("slash", "filter", "Find", tooltip="filter the packets"),
        Binding("escape", "close_filter", "Clear filter", tooltip="clear the filter", show=False),
        Binding("question_mark", "help", "Help", tooltip="this help: keys and how to read the map"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: EventSource | None = None, *, topology: Topology | None = None,
                 runner: Runner | None = None, label: str = "", recording: str = "",
                 save_dir: str | os.PathLike[str] = ".", rate_interval: float | None = 1.0,
                 clock: Callable[[], float] = time.monotonic, teach: str | None = None,
                 step: bool = False, step_ms: int | None = None,
                 compile_filter: ExprCompiler | None = None, lang: str = "en") -> None:
        super().__init__()
        info = source.info if source is not None else None
        topo = topology or (info.topology if info else Topology())
        self.info = info
        self.runner = runner or (source_runner(source) if source is not None else None)
        self.corr = Correlator()
        self.book = PacketBook(topo)
        self.diagnoses = Diagnoses(topo)
        self.source = source  # asked for damage when it ends (a salvaged recording)
        self.topo = topo
        self.seen = SeenSpill()  # on disk, not in memory (tracer/record/spill.py)
        self.rows = LightRows(self.book, self.seen)
        self.held: list[Pending] = []
        self.facts = StatusFacts(source=label or ("live" if info and info.live else "replay"),
                                 hooks=info.hooks if info else (), recording=recording)
        self._label = self.facts.source
        self._nodes_note = getattr(source, "nodes_note", None)  # across nodes: clocks (tracer/remote)
        self.filter_text = ""
        self.compile_filter = compile_filter  # pcap expressions in the filter box (probes/pcap.py)
        self.pcap = None
        self._pcap_shown = set()
        self._filter_timer = None
        self.save_dir = Path(save_dir)
        self.saved = []
        self._rate_interval, self._clock = rate_interval, clock
        self._rate_mark = (0, clock())
        self._stopping = threading.Event()
        self.source_done = threading.Event()
        self.hook_modes = {h.hook: h.mode for h in self.facts.hooks}
        self._last_hop = None
        self._settled = 0
        self._coalescer: Coalescer | None = None
        self._backlog: deque[Pending] = deque()
        self._queued = 0
        self._draining = False
        self._drained_at = 0.0
        self._view_new: list[int] = []
        self._view_touched: set[int] = set()
        self._view_at = -1.0
        self._collected_at = 0.0
        self._view_timer: Timer | None = None
        self._shown_packet: tuple[object, ...] | None = None
        self.teach = teach
        self.lang = lang  # the language `e` turns teaching mode on in (--lang)
        self.facts.teach = teach or ""
        self.stepping = step or step_ms is not None
        self.step_ms = step_ms
        self._step_timer = None

    # ---- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TopologyPane(self.topo, id="topology")
        with Horizontal(id="middle"):
            with Vertical(id="packets-pane"):
                yield Static(Text(header(False), style="bold"), id="packets-header")
                yield Input(placeholder="filter: pcap expression, or netns, device, status, address…",
                            id="filter")
                yield PacketList(self.book.packets, id="packets")
            yield JourneyTable(id="journey")
        yield DetailPane(id="detail")
        yield StatusBar(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#topology").border_title = "topology"
        self.query_one("#packets-pane").border_title = "packets"
        self.query_one("#journey").border_title = "journey"
        self.query_one("#detail").border_title = "hop detail"
        self.query_one("#filter", Input).display = False
        self.query_one(PacketList).focus()
        self._show_status()
        if self._rate_interval:
            self.set_interval(self._rate_interval, self._tick_rate)
        if self.runner is not None:
            self._poll()
        self._fit()
        self.start_playback()

    def on_resize(self, event: object) -> None:
        self._fit()

    def _fit(self) -> None:
        """Shorter panes on small terminals so the packet and journey lists keep rows; on
        narrow ones a compact packet list so the journey's action column keeps its width."""
        width, height = self.size
        narrow = width < NARROW
        self.screen.set_class(height < 32, "-short")
        self.screen.set_class(narrow, "-narrow")
        plist = self.query_one(PacketList)
        if plist.compact != narrow:
            plist.compact = narrow
            plist.refresh()
            self.query_one("#packets-header", Static).update(Text(header(narrow), style="bold"))

    # ---- the worker --------------------------------------------------------

    @work(thread=True, exclusive=True, group="poller", exit_on_error=False)
    def _poll(self) -> None:
        """The one worker: runs the source and posts coalesced batches."""
        def post(batches: list[Batch], stats: SourceStats) -> None:
            self.post_message(EventsArrived(batches, stats))

        co = self._coalescer = Coalescer(post, window=WINDOW)  # acked by Ingest
        link = WorkerLink(co.push, self._stopping.is_set, self._source_opened)
        error = ""
        try:
            assert self.runner is not None
            self.runner(link)
        except BaseException as exc:  # noqa: BLE001 - shown in the status bar, not a traceback over the UI
            error = inert(str(exc) or type(exc).__name__)
        finally:
            co.flush()
            self.post_message(SourceEnded(error))
            self.source_done.set()

    def _source_opened(self, info: SourceInfo, recording: str = "") -> None:
        """Called from the worker thread by live runners once the probes are attached."""
        self.post_message(SourceOpened(info, recording))

    def stop_source(self, timeout: float = 10.0) -> bool:
        """Ask the worker to stop and wait until the source is closed (probes detached)."""
        self._stopping.set()
        return self.source_done.wait(timeout) if self.runner is not None else True

    # ---- actions ---------------------------------------------------------

    def action_toggle_pause(self) -> None:
        if self.stepping:
            self.step_space()
            return
        self.facts.paused = not self.facts.paused
        if not self.facts.paused:
            held, self.held = self.held, []
            if held:
                self.queue_ingest(held)
            if self.facts.done:
                self._drain(everything=True)
                self._apply(set(), final=True)
        self._show_status()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    async def action_quit(self) -> None:
        self._stopping.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stopping.set()
        if self._step_timer is not None:
            self._step_timer.stop()
        self.seen.close()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume", "Freeze the view; events keep being collected",
                            self.action_toggle_pause)
        yield SystemCommand("Follow live", "Select the newest packet as it arrives",
                            self.action_toggle_follow)
        yield SystemCommand("Save recording", "Write what was seen so far to a .brt file",
                            self.action_save)
        yield SystemCommand("Filter packets", "A pcap expression (udp port 8472), or text in the rows",
                            self.action_filter)
        yield SystemCommand("Next packet", "Select the next packet", self.action_next_packet)
        yield SystemCommand("Previous packet", "Select the previous packet", self.action_prev_packet)

    # ---- status ----------------------------------------------------------

    def _tick_rate(self) -> None:
        events, t = self._rate_mark
        now = self._clock()
        if now > t:
            self.facts.rate = (self.facts.events - events) / (now - t)
        self._rate_mark = (self.facts.events, now)
        self.restart_stalled_drain()
        self.note_backlog()
        self._show_status()

    def _show_status(self) -> None:
        if self._nodes_note is not None:
            self.facts.source = f"{self._label}  {self._nodes_note()}"
        self.query_one(StatusBar).show(self.facts)


__all__ = ["REPLY", "REQUEST", "BrtraceApp", "EventsArrived", "SourceEnded", "SourceOpened"]
