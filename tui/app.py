"""BrtraceApp: topology map, packet list, journey, detail and status, fed by one worker.

One thread worker runs the source (``tui.pump``) and posts coalesced
``EventsArrived`` messages; the app feeds the correlator once per message and
updates only what changed: new packet rows are appended, changed rows are
repainted if visible, and the journey and map are redrawn only when the
selected packet changed. Nothing on the UI thread waits on the source.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from tracer.correlate import Correlator, Hop
from tracer.model import Event, Hook, SourceStats
from tracer.render.text import inert
from tracer.source import EventSource, SourceInfo
from tracer.topology.model import Topology
from tui.diagnosis import Diagnoses, culprit_key, status_text
from tui.help import HelpScreen
from tui.packets import PacketBook
from tui.pump import Coalescer, Runner, source_runner
from tui.widgets.detail import DetailPane
from tui.widgets.journey import REPLY, REQUEST, JourneyTable
from tui.widgets.packet_list import HEADER, PacketList
from tui.widgets.status import StatusBar, StatusFacts
from tui.widgets.topology import TopologyPane


class EventsArrived(Message):
    def __init__(self, events: list[Event], stats: SourceStats) -> None:
        super().__init__()
        self.events, self.stats = events, stats


class SourceOpened(Message):
    def __init__(self, info: SourceInfo, recording: str) -> None:
        super().__init__()
        self.info, self.recording = info, recording


class SourceEnded(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


FREEZE_EVERY = 5000  # packets between two gc.freeze() calls


class BrtraceApp(App[int]):
    """Watch packets walk the topology, live or from a recording."""

    CSS_PATH = "styles.tcss"
    TITLE = "brtrace"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_pause", "Pause"),
        Binding("n", "next_packet", "Next pkt"),
        Binding("p", "prev_packet", "Prev pkt"),
        Binding("j", "step(1)", "Hop ↓"),
        Binding("k", "step(-1)", "Hop ↑"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("e", "toggle_explain", "Explain"),
        Binding("s", "save", "Save"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "close_filter", "Close filter", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, source: EventSource | None = None, *, topology: Topology | None = None,
                 runner: Runner | None = None, label: str = "", recording: str = "",
                 save_dir: str | os.PathLike[str] = ".", rate_interval: float | None = 1.0,
                 clock: Callable[[], float] = time.monotonic, teach: str | None = None) -> None:
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
        self.seen: list[Event] = []
        self.held: list[Event] = []
        self.facts = StatusFacts(source=label or ("live" if info and info.live else "replay"),
                                 hooks=info.hooks if info else (), recording=recording)
        self.filter_text = ""
        self.save_dir = Path(save_dir)
        self.saved: list[str] = []
        self._rate_interval, self._clock = rate_interval, clock
        self._rate_mark = (0, clock())
        self._stopping = threading.Event()
        self.source_done = threading.Event()
        self._modes: dict[Hook, str] = {h.hook: h.mode for h in self.facts.hooks}
        self._last_hop: tuple[int | None, int, int, str] | None = None
        self._settled = 0  # packets ingested since the last gc.freeze
        self.teach: str | None = teach  # teaching mode: language of hop explanations, or off

    # ---- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TopologyPane(self.topo, id="topology")
        with Horizontal(id="middle"):
            with Vertical(id="packets-pane"):
                yield Static(Text(HEADER, style="bold"), id="packets-header")
                yield Input(placeholder="filter: netns, device, status, address…", id="filter")
                yield PacketList(self.book.packets, id="packets")
            yield JourneyTable(id="journey")
        yield DetailPane(id="detail")
        yield StatusBar(id="status")
        yield Footer()

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
        self._fit(self.size.height)

    def on_resize(self, event: object) -> None:
        self._fit(self.size.height)

    def _fit(self, height: int) -> None:
        """Shorter panes on small terminals so the packet and journey lists keep rows."""
        self.screen.set_class(height < 32, "-short")

    # ---- the worker --------------------------------------------------------

    @work(thread=True, exclusive=True, group="poller", exit_on_error=False)
    def _poll(self) -> None:
        """The one worker: runs the source and posts coalesced batches."""
        co = Coalescer(lambda evs, st: self.post_message(EventsArrived(evs, st)))
        error = ""
        try:
            assert self.runner is not None
            self.runner(co.push, self._stopping.is_set)
        except BaseException as exc:  # noqa: BLE001 - shown in the status bar, not a traceback over the UI
            error = inert(str(exc) or type(exc).__name__)
        finally:
            co.flush()
            self.post_message(SourceEnded(error))
            self.source_done.set()

    def source_opened(self, info: SourceInfo, recording: str = "") -> None:
        """Called from the worker thread by live runners once the probes are attached."""
        self.post_message(SourceOpened(info, recording))

    def stop_source(self, timeout: float = 10.0) -> bool:
        """Ask the worker to stop and wait until the source is closed (probes detached)."""
        self._stopping.set()
        return self.source_done.wait(timeout) if self.runner is not None else True

    # ---- incoming events -------------------------------------------------

    def on_source_opened(self, msg: SourceOpened) -> None:
        self.info = msg.info
        self.facts.hooks = msg.info.hooks
        self.facts.recording = msg.recording or self.facts.recording
        self._modes = {h.hook: h.mode for h in msg.info.hooks}
        self._show_status()

    def on_events_arrived(self, msg: EventsArrived) -> None:
        self.seen.extend(msg.events)
        self.facts.events = len(self.seen)
        self.facts.lost = msg.stats.lost
        if self.facts.paused:
            self.held.extend(msg.events)
        elif msg.events:
            self.ingest(msg.events)
        self._show_status()

    def on_source_ended(self, msg: SourceEnded) -> None:
        self.facts.done = True
        self.facts.error = msg.error
        damage = getattr(self.source, "damage", None) or ""
        self.facts.damage = inert(getattr(self.source, "damage_brief", "") or damage)
        if msg.error:
            self.notify(msg.error, title="source stopped", severity="error", markup=False)
        if damage:
            self.notify(inert(damage), title="damaged recording: what is shown was salvaged",
                        severity="error", markup=False, timeout=30)
        if not self.facts.paused:
            self._apply(set(), final=True)
        self._show_status()

    def ingest(self, events: list[Event]) -> None:
        """Correlate one coalesced batch and update the views incrementally."""
        self.query_one(TopologyPane).show_namespaces({e.netns for e in events if e.netns})
        self._apply(self.corr.feed(events), final=False)

    def _apply(self, changed: set[int], final: bool) -> None:
        new, touched = self.book.update(self.corr, changed, final=final)
        plist = self.query_one(PacketList)
        shown = [pid for pid in new if self._matches(pid)]
        if shown:
            plist.append(shown)
        plist.changed(touched)
        if self.facts.follow and shown:
            plist.select_index(len(plist.rows) - 1)
        elif plist.selected is None and plist.rows:
            plist.select_index(0)
        if plist.selected in touched:
            self._show_packet(plist.selected, to_last=self.facts.follow)
        self._settled += len(new)
        if final or self._settled >= FREEZE_EVERY:
            self.settle_memory()

    def settle_memory(self) -> None:
        """Move what was ingested out of the cyclic collector's sight (``gc.freeze``).

        With 100k packets listed, a full collection walks every Event and Hop
        and stalls a frame for ~70 ms; these objects live as long as the app
        and are freed by reference counting when the correlator drops them,
        so the collector has nothing to find in them.
        """
        self._settled = 0
        gc.freeze()

    def _matches(self, pid: int) -> bool:
        return not self.filter_text or self.filter_text in self.book.packets[pid].search_text()

    # ---- selection -------------------------------------------------------

    @on(PacketList.Highlighted)
    def _packet_highlighted(self, msg: PacketList.Highlighted) -> None:
        self._show_packet(msg.pid, to_last=self.facts.follow)

    def _show_packet(self, pid: int | None, to_last: bool) -> None:
        table = self.query_one(JourneyTable)
        p = self.book.packets.get(pid) if pid is not None else None
        table.show(p, keep_row=not to_last)
        if to_last and table.hops:
            table.move_cursor(row=len(table.hops) - 1, animate=False)
        self._show_hop()

    @on(DataTable.RowHighlighted, "#journey")
    def _hop_highlighted(self, msg: DataTable.RowHighlighted) -> None:
        self._show_hop()

    def _show_hop(self) -> None:
        """Mark the map and decode the detail, once per (packet, hop, hop count) shown."""
        table = self.query_one(JourneyTable)
        hop = table.current
        p = self.book.packets.get(table.pid) if table.pid is not None else None
        shown = (table.pid, table.cursor_row, len(table.hops), p.status if p else "")
        if shown == self._last_hop:
            return
        self._last_hop = shown
        d = self.diagnoses.get(p)
        self.query_one(TopologyPane).mark(table.hops, hop, self._caption(hop), culprit_key(d))
        self.query_one(DetailPane).show(hop, self._modes, self.teach, d)
        self.facts.diagnosis = status_text(d)
        self._show_status()

    def _caption(self, hop: Hop | None) -> Text:
        table = self.query_one(JourneyTable)
        p = self.book.packets.get(table.pid) if table.pid is not None else None
        if p is None or hop is None:
            return Text("no packet selected", style="dim")
        n_req = len(p.req_hops)
        row = table.cursor_row
        direction = "request" if row < n_req else "reply"
        n = n_req if row < n_req else len(p.rep_hops)
        t = Text(inert(f"#{p.pid} {p.what}  "), style="bold")
        t.append(f"{direction} hop {hop.index}/{n}  ")
        t.append(inert(f"{hop.netns} {hop.dev}"), style="bold yellow")
        t.append("  " + inert(hop.verb), style="red bold" if hop.verb == "drop" else "")
        return t

    # ---- actions ---------------------------------------------------------

    def action_toggle_explain(self) -> None:
        """Teaching mode: each hop's detail starts with what the kernel did, in the seeds' terms."""
        self.teach = None if self.teach else "en"
        self._last_hop = None
        self._show_hop()
        self.notify("teaching mode " + ("on" if self.teach else "off"))

    def action_toggle_pause(self) -> None:
        self.facts.paused = not self.facts.paused
        if not self.facts.paused:
            held, self.held = self.held, []
            if held:
                self.ingest(held)
            if self.facts.done:
                self._apply(set(), final=True)
        self._show_status()

    def action_next_packet(self) -> None:
        self._move_packet(1)

    def action_prev_packet(self) -> None:
        self._move_packet(-1)

    def _move_packet(self, delta: int) -> None:
        self.facts.follow = False
        plist = self.query_one(PacketList)
        plist.select_index(plist.cursor + delta)
        self._show_status()

    def action_step(self, delta: int) -> None:
        self.facts.follow = False
        table = self.query_one(JourneyTable)
        if table.hops:
            table.move_cursor(row=max(0, min(len(table.hops) - 1, table.cursor_row + delta)))
        self._show_status()

    def action_toggle_follow(self) -> None:
        self.facts.follow = not self.facts.follow
        plist = self.query_one(PacketList)
        if self.facts.follow and plist.rows:
            plist.select_index(len(plist.rows) - 1)
            self._show_packet(plist.selected, to_last=True)
        self._show_status()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_close_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_focus:
            box.display = bool(box.value)
            self.query_one(PacketList).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, msg: Input.Changed) -> None:
        self.set_filter(msg.value)

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, msg: Input.Submitted) -> None:
        self.action_close_filter()

    def set_filter(self, text: str) -> None:
        """Show only packets whose status, addresses, namespaces or devices contain ``text``."""
        self.filter_text = text.strip().lower()
        plist = self.query_one(PacketList)
        plist.set_rows(self.book.matching(self.filter_text))
        self._show_packet(plist.selected, to_last=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_save(self) -> None:
        """Write everything seen so far to a new recording, in a worker (never blocks the UI)."""
        if self.info is None:
            self.notify("nothing to save yet: the source is not open", severity="warning")
            return
        path = self._save_path()
        self._write_recording(path, list(self.seen), self.info, self.facts.lost)

    def _save_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        n = 0
        while True:
            path = self.save_dir / f"brtrace-{stamp}{f'-{n}' if n else ''}.brt"
            if not path.exists() and str(path) not in self.saved:
                return path
            n += 1

    @work(thread=True, group="save", exit_on_error=False)
    def _write_recording(self, path: Path, events: list[Event], info: SourceInfo, lost: int) -> None:
        from tracer.record.writer import RecordWriter

        self.saved.append(str(path))
        try:
            with RecordWriter(path, info) as w:
                w.write_batch(events)
                w.close(SourceStats(events=len(events), lost=lost, batches=w.batches))
        except Exception as exc:  # noqa: BLE001 - a failed save is a notification, not a crash
            self.call_from_thread(self.notify, inert(str(exc)), title="save failed",
                                  severity="error", markup=False)
            return
        self.call_from_thread(self.notify, inert(f"saved {len(events)} events to {path}"),
                              title="recording saved", markup=False)

    async def action_quit(self) -> None:
        self._stopping.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stopping.set()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Pause / resume", "Freeze the view; events keep being collected",
                            self.action_toggle_pause)
        yield SystemCommand("Follow live", "Select the newest packet as it arrives",
                            self.action_toggle_follow)
        yield SystemCommand("Save recording", "Write what was seen so far to a .brt file",
                            self.action_save)
        yield SystemCommand("Filter packets", "Show packets matching text", self.action_filter)
        yield SystemCommand("Next packet", "Select the next packet", self.action_next_packet)
        yield SystemCommand("Previous packet", "Select the previous packet", self.action_prev_packet)

    # ---- status ----------------------------------------------------------

    def _tick_rate(self) -> None:
        events, t = self._rate_mark
        now = self._clock()
        if now > t:
            self.facts.rate = (self.facts.events - events) / (now - t)
        self._rate_mark = (self.facts.events, now)
        self._show_status()

    def _show_status(self) -> None:
        self.query_one(StatusBar).show(self.facts)


__all__ = ["REPLY", "REQUEST", "BrtraceApp", "EventsArrived", "SourceEnded", "SourceOpened"]
