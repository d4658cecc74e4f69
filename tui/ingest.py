"""Incoming batches: correlate once per message and update only what changed.

New packet rows are appended, changed rows repainted if visible, and the
journey and map redrawn only when the selected packet changed. Batches reach
the correlator as they were polled, so a live (columnar) batch is filed from
its columns like on the plain CLI path.
"""

from __future__ import annotations

import gc

import numpy as np

from tracer.render.inert import inert
from tui.messages import EventsArrived, SourceEnded, SourceOpened
from tui.pump import Batch
from tui.state import AppState
from tui.widgets.packet_list import PacketList
from tui.widgets.topology import TopologyPane

FREEZE_EVERY = 5000  # packets between two gc.freeze() calls


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
        if self.info is not None:
            for b in msg.batches:
                self.seen.add(b, self.info)
        else:  # not on disk: these packets could not be rebuilt, so none is made light
            self.rows.keep_all = True
        self.facts.events += msg.count
        self.facts.lost = msg.stats.lost
        if self.facts.paused:
            self.held.extend(msg.batches)
        elif msg.batches:
            self.ingest(msg.batches)
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

    def ingest(self, batches: list[Batch]) -> None:
        """Correlate coalesced batches and update the views incrementally."""
        self.query_one(TopologyPane).show_namespaces(netns_seen(batches))
        changed: set[int] = set()
        for b in batches:
            changed |= self.corr.feed(b)
        chunks = (self._chunked, self.seen.chunks - 1)
        self._chunked = self.seen.chunks
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
        plist = self.query_one(PacketList)
        shown = [pid for pid in new if self._matches(pid)]
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
        return self.filter_shows(pid)
