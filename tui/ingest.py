"""Incoming batches: spill them, correlate them in slices, redraw what changed at most 5 times a second.

Why (issue 18, ``ping -i 0.002``): each message rebuilt the journey table,
the map and the scapy-decoded detail of the newest packet; the UI thread fell
behind and queued messages grew the process by 10–16 % over 30 s. Now a
message is spilled and acknowledged at once (the worker's ``Coalescer``
posts the next only then, gathering batches meanwhile); what waits to be
correlated stays in memory up to ``BACKLOG_EVENTS`` and beyond that in the
spill only, read back in its turn. The backlog is correlated a slice at a
time, keys and redraws in between; the view is redrawn at most
``1 / REDRAW_INTERVAL_S`` times a second and always shows the newest state:
new rows appended, changed rows repainted if visible, the journey, map and
detail redrawn only when the selected packet changed. Nothing is skipped but
intermediate frames; the status line says when the view is behind and by how
many events. Batches reach the correlator as they were polled, so a live
(columnar) batch is filed from its columns like on the plain CLI path.
"""

from __future__ import annotations

import asyncio
import gc
import time

import numpy as np

from tracer.heap import release_free_pages
from tracer.render.inert import inert
from tui.messages import EventsArrived, SourceEnded, SourceOpened
from tui.pump import Batch
from tui.state import AppState, Pending
from tui.widgets.packet_list import PacketList
from tui.widgets.topology import TopologyPane

BEHIND_S = 0.5  # events waiting this long (worker or backlog): the status line says the view is behind
STALLED_S = 2.0  # a backlog no slice took for this long: its draining is started again
FREEZE_EVERY = 5000  # packets between two gc.freeze() calls
COLLECT_EVERY_S = 1.0  # a collection of what is not frozen (cheap): the view's dead cycles go,
# then the C heap's free pages back to the kernel (tracer/heap.py: ~0.1 ms)
BACKLOG_EVENTS = 5000  # events waiting in memory (~1.5 MB); more wait in the spill only
INGEST_SLICE = 1000  # events per correlate-and-judge step: a light row's rebuild reads its step's chunks
TURN_S = 0.03  # steps per turn of the UI thread until this long: keys and redraws come between
REDRAW_INTERVAL_S = 0.2  # the packet list, journey, map and detail: at most 5 redraws a second


def netns_seen(batches: list[Batch]) -> set[int]:
    """Namespace inodes the batches were seen in; a columnar batch is read from its column."""
    out: set[int] = set()
    for b in batches:
        arr = getattr(b, "arr", None)
        if arr is not None:
            out.update(np.unique(arr["netns"]).tolist())
        else:
            out.update(e.netns for e in b)
    out.discard(0)
    return out


class Ingest(AppState):
    """The message handlers of the worker's messages, and the incremental update."""

    def on_source_opened(self, msg: SourceOpened) -> None:
        self.info = msg.info
        self.facts.hooks = msg.info.hooks
        self.facts.recording = msg.recording or self.facts.recording
        self.hook_modes = {h.hook: h.mode for h in msg.info.hooks}
        self._show_status()

    def on_events_arrived(self, msg: EventsArrived) -> None:
        entries = self._spill(msg.batches)
        self.facts.events += msg.count
        self.facts.lost = msg.stats.lost
        if self._coalescer is not None:
            self._coalescer.ack()  # spilled: the worker may post what it gathered meanwhile
        if self.facts.paused:
            self.held.extend(entries)
            self._show_status()
        elif entries:
            self.queue_ingest(entries)
        else:
            self._schedule_view()  # the counters changed: the status line shows them

    def _spill(self, batches: list[Batch]) -> list[Pending]:
        """Write the batches to the spill; what waits to be correlated beyond
        BACKLOG_EVENTS is kept as its chunk number only, read back when its turn comes."""
        out: list[Pending] = []
        if self.info is None:  # not on disk: these packets could not be rebuilt, so none is made light
            self.rows.keep_all = True
            return [Pending(-1, b, len(b)) for b in batches if len(b)]
        for b in batches:
            if not len(b):
                continue
            chunk = self.seen.chunks
            self.seen.add(b, self.info)
            keep = self._queued < BACKLOG_EVENTS
            out.append(Pending(chunk, b if keep else None, len(b)))
            self._queued += len(b)
        return out

    def queue_ingest(self, entries: list[Pending]) -> None:
        """Correlate what arrived a slice at a time, other messages (keys, redraws) in between.

        A slice, not the whole message: a UI thread behind a flood would
        otherwise correlate seconds of events in one turn, hold the
        correlator's whole state for them (and hit its bounds), and freeze.
        """
        self._backlog.extend(entries)
        if not self._draining:
            self._drain()

    def _drain(self, everything: bool = False) -> None:
        self._draining = True
        end = time.monotonic() + TURN_S
        while self._backlog:
            self._drained_at = time.monotonic()
            part, n = [], 0
            while self._backlog and n < INGEST_SLICE:
                e = self._backlog.popleft()
                part.append(e)
                n += e.events
            self._queued = max(0, self._queued - n)
            self.ingest(part)
            if not everything and self._backlog and time.monotonic() >= end:
                self._drain_later()
                return
        self._draining = False

    def _drain_later(self) -> None:
        """The next slice, after what other threads posted meanwhile.

        Not ``call_later`` alone: textual takes the next message without
        yielding to the event loop while its queue is not empty, and a message
        from another thread (the worker's batches, a key) only enters the queue
        from the loop. A slice re-posting itself kept the queue busy until the
        whole backlog was correlated, so the worker's batches piled up in its
        memory meanwhile (replaying a flood at twice its pace: 178k events,
        ~100 MB). Through the loop, they enter the queue before the next slice.
        """
        asyncio.get_running_loop().call_soon(self.call_later, self._drain)

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
            self._drain(everything=True)  # the last events first, then the final judgement
            self._apply(set(), final=True)
        self._show_status()

    def ingest(self, part: list[Pending]) -> None:
        """Correlate one slice of what arrived and queue the view's update."""
        batches: list[Batch] = []
        for e in part:
            if e.batch is not None:
                batches.append(e.batch)
            else:  # waited on disk only
                batches.extend(self.seen.read(e.chunk, e.chunk))
        self.query_one(TopologyPane).show_namespaces(netns_seen(batches))
        changed: set[int] = set()
        for b in batches:
            changed |= self.corr.feed(b)
        chunks = (part[0].chunk, part[-1].chunk)  # -1 when not spilled (then never rebuilt)
        self._apply(changed, final=False, chunks=chunks)
        # the book keeps what it lists; the correlator only what may change
        self.rows.handed_out(self.corr.retire())
        self.rows.lighten()
        self.facts.evicted = self.corr.evicted

    def _apply(self, changed: set[int], final: bool, chunks: tuple[int, int] | None = None) -> None:
        new, touched = self.book.update(self.corr, changed, final=final)
        if chunks is not None:
            self.rows.note(new, touched, chunks)
        self.facts.packets = len(self.book.packets)
        self._view_new.extend(new)
        self._view_touched |= touched
        self._settled += len(new)
        if final or self._settled >= FREEZE_EVERY:
            self.settle_memory()
        self._schedule_view(now=final)

    def _schedule_view(self, now: bool = False) -> None:
        """Redraw now if the last redraw is old enough (or ``now``), else once, a little later."""
        wait = self._view_at + REDRAW_INTERVAL_S - time.monotonic()
        if now or wait <= 0:
            self.redraw_view()
        elif self._view_timer is None:
            self._view_timer = self.set_timer(wait, self.redraw_view)

    def redraw_view(self) -> None:
        """List the packets ingested since the last redraw, follow the newest, show the selected."""
        if self._view_timer is not None:
            self._view_timer.stop()
            self._view_timer = None
        self._view_at = time.monotonic()
        new, touched = self._view_new, self._view_touched
        self._view_new, self._view_touched = [], set()
        plist = self.query_one(PacketList)
        shown = self.filter_new(new)
        shown += self.filter_late(touched - set(new))
        if shown:
            plist.append(shown)
        plist.changed(touched)
        if self.facts.follow and shown:
            plist.select_index(len(plist.rows) - 1)
        elif plist.selected is None and plist.rows:
            plist.select_index(0)
        if plist.selected in touched:
            self._show_packet(plist.selected, to_last=self.facts.follow)
        self.note_backlog()
        self._show_status()
        if self._view_at - self._collected_at >= COLLECT_EVERY_S:
            self._collected_at = self._view_at
            gc.collect()  # walks only what came since the last freeze
            release_free_pages()

    def note_backlog(self) -> None:
        """Events received but not shown yet, for the status line, when the view is behind:
        batches waiting in the worker, or a backlog here no slice has taken for BEHIND_S."""
        co = self._coalescer
        behind = self._stalled_for() >= BEHIND_S or (co is not None and co.lag() >= BEHIND_S)
        waiting = self._queued + (co.buffered if co is not None else 0)
        self.facts.queued = waiting if behind else 0

    def _stalled_for(self) -> float:
        """Seconds the backlog has waited for its next slice (0 when empty or paused)."""
        if not self._backlog or self.facts.paused:
            return 0.0
        return time.monotonic() - self._drained_at

    def restart_stalled_drain(self) -> None:
        """Start the backlog's draining again if its next slice never came (the rate tick's
        check, once a second). A live TUI once listed 29,437 of ~29,740 pings whose events
        had all arrived, with "0 ev/s", and said nothing: a backlog left without a slice is
        the state that holds packets back that way (how it was left so was not found).
        Now the status line says it (note_backlog), and it is drained from here."""
        if self._stalled_for() >= STALLED_S:
            self._drain()

    def settle_memory(self) -> None:
        """Move what was ingested out of the cyclic collector's sight (``gc.freeze``).

        With 100k packets listed, a full collection walks every Event and Hop
        and stalls a frame for ~70 ms; these objects live as long as the app
        and are freed by reference counting when the correlator drops them,
        so the collector has nothing to find in them. But objects frozen alive
        that die in a cycle later are never freed (a flood leaked ~0.5 MB/s of
        the journey table's old rows that way), so each freeze follows one full
        collection: one pause per FREEZE_EVERY packets instead of many.
        """
        self._settled = 0
        gc.unfreeze()  # what was frozen alive and is garbage since (the journey table's rows of
        gc.collect()  # an earlier packet: cycles) is freed here, never by the collector
        gc.freeze()
