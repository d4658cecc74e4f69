"""Light rows: settled packets keep their row, their hops come back from the spill on selection.

Why: a live TUI of 1,000 ICMP packets/s held every packet's hops and their
events and reached ~975 MB after 60 s (issue 18). Every event is already on
disk (``tracer/record/spill.py``), so a packet the correlator has handed out
and that has settled keeps only its row (status, RTT, what, places) plus the
two spill chunk numbers it spanned; selecting it re-feeds a fresh correlator
with those chunks (and one before, for the context a lookup or FDB event
gives) and rebuilds the same hops. One rebuilt packet is cached.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections import deque

from tracer.correlate import Correlator, Journey
from tracer.correlate.pairing import Packet, PacketBook, hops_of
from tracer.record.spill import SeenSpill

CONTEXT_CHUNKS = 1  # chunks read before a packet's first: route and FDB lookups precede it


class LightRows:
    """Which chunks each packet spanned, which packets to make light, and the rebuild."""

    def __init__(self, book: PacketBook, spill: SeenSpill) -> None:
        self.book = book
        self.spill = spill
        self._first = array("q")  # by pid - 1: chunk of the packet's first event
        self._last = array("q")  # by pid - 1: chunk of its last change
        self._pending: deque[int] = deque()  # packets handed out, not yet light
        self._cache: Packet | None = None
        self.light = 0
        self.keep_all = False  # set when events arrived that were not spilled

    def note(self, new: list[int], touched: set[int], chunks: tuple[int, int]) -> None:
        """Packets new or changed by the chunks ``chunks`` (first, last) just ingested."""
        first, last = chunks
        for pid in new:
            while len(self._first) < pid:
                self._first.append(first)
                self._last.append(last)
            self._first[pid - 1] = first
        for pid in touched:
            if pid <= len(self._last):
                self._last[pid - 1] = last
        if self._cache is not None and self._cache.pid in touched:
            self._cache = None  # a light packet's late journey: rebuild it with the new chunks

    def handed_out(self, journeys: list[Journey]) -> None:
        """The correlator let go of these journeys; their packets may settle."""
        self._pending.extend(self.book.forget([j.jid for j in journeys]))

    def lighten(self) -> int:
        """Make light every handed-out packet that has settled; returns how many.

        At once, not after a delay: the correlator hands a journey out a
        second after it began, and a flood's packets held heavy meanwhile
        are ~100 MB. One still in flight waits for its answer timeout.
        """
        pending, book, n = self._pending, self.book, 0
        if self.keep_all:
            pending.clear()
            return 0
        waiting: deque[int] = deque()
        while pending:
            pid = pending.popleft()
            if book.packets.is_light(pid):
                continue
            if book.lighten(pid):
                n += 1
            else:
                waiting.append(pid)
        self._pending = waiting
        self.light += n
        return n

    def full(self, pid: int | None) -> Packet | None:
        """Packet ``pid`` with its hops (rebuilt from the spill when it is light)."""
        p = self.book.packets.get(pid) if pid is not None else None
        if p is None or not p.light:
            return p
        if self._cache is None or self._cache.pid != pid:
            self._cache = self._rebuild(p)
        return self._cache

    def _rebuild(self, p: Packet) -> Packet:
        i = p.pid - 1
        corr = Correlator()
        for batch in self.spill.read(self._first[i] - CONTEXT_CHUNKS, self._last[i]):
            corr.feed(batch)
        request, reply = hops_of(p, corr, self.book.topo)
        return dataclasses.replace(p, request=request, reply=reply, light=False)
