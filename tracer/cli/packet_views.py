"""The packets of a correlated trace as JSON Lines, as ``replay`` and ``trace`` print them.

Both pair journeys into packets with :class:`~tracer.correlate.pairing.PacketBook`
(an echo's request and reply are one packet), the same model ``ping`` and the
TUI use, so all three commands print through ``tracer.jsonout``.
"""

from __future__ import annotations

from collections.abc import Iterator

from tracer.correlate.pairing import PacketBook
from tracer.jsonout import WallClock, dumps, packet_record
from tracer.topology.model import Topology


def first_ts(book: PacketBook) -> int | None:
    """The earliest hop time of the book, to anchor a recording's wall clock."""
    ts = [p.t0 for p in book.packets.values() if p.hops]
    return min(ts) if ts else None


def json_lines(command: str, book: PacketBook, topo: Topology, clock: WallClock) -> Iterator[str]:
    for n, p in enumerate(book.packets.values(), 1):
        yield dumps(packet_record(command, n, p, topo, clock=clock))
