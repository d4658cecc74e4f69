"""Which packets a pcap-filter expression selects, for the filter box (issue 23).

A packet matches when any event of its journeys does (``ExprFilter``, libpcap's
offline filter on the stored headers). A packet that still has its hops is
judged from their events; a light one (``tui/rows.py``: its hops went to save
memory) is judged in one pass over the spill, the events re-fed to a fresh
correlator and each journey found again by ``journey_key``, rather than
rebuilding light packets one by one.
"""

from __future__ import annotations

from tracer.correlate import Correlator, Journey
from tracer.correlate.pairing import Packet, PacketBook, journey_key, packet_key
from tracer.pcapf.offline import ExprFilter
from tracer.record.spill import SeenSpill


def packet_matches(flt: ExprFilter, p: Packet) -> bool:
    """A packet with its hops: any of its events."""
    return any(flt.events(h.events) for h in p.hops)


def light_keys(flt: ExprFilter, spill: SeenSpill) -> set[tuple[object, ...]]:
    """``journey_key`` of every journey in the spill with a matching event."""
    corr = Correlator()
    out: set[tuple[object, ...]] = set()

    def judge(journeys: list[Journey]) -> None:
        for j in journeys:
            if j.events and flt.events(j.events):
                out.add(journey_key(j))

    for batch in spill.read(0, spill.chunks - 1):
        corr.feed(batch)
        judge(corr.retire())
    judge(list(corr.journeys.values()))
    return out


def matching(flt: ExprFilter, book: PacketBook, spill: SeenSpill) -> list[int]:
    """Packet ids (in order) that ``flt`` selects."""
    keys = light_keys(flt, spill) if book.packets.light else set()
    return [pid for pid, p in book.packets.items()
            if (packet_key(p) in keys if p.light else packet_matches(flt, p))]
