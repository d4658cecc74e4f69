"""The packets of a correlated trace as ``ping``-style results and JSON Lines.

``replay`` and ``trace`` pair journeys into packets with the TUI's
:class:`~tui.packets.PacketBook` (an echo's request and reply are one packet);
this turns those packets into :class:`ProbeResult` s, the shape the text,
explain, diagnosis and JSON views take, so all three commands print through
the same code.
"""

from __future__ import annotations

from collections.abc import Iterator

from tracer.jsonout import WallClock, dumps, packet_record
from tracer.topology.model import Topology
from tui.diagnosis import probe_of
from tui.packets import PacketBook

__all__ = ["first_ts", "json_lines", "probe_of"]


def first_ts(book: PacketBook) -> int | None:
    """The earliest hop time of the book, to anchor a recording's wall clock."""
    ts = [p.t0 for p in book.packets.values() if p.hops]
    return min(ts) if ts else None


def json_lines(command: str, book: PacketBook, topo: Topology, clock: WallClock) -> Iterator[str]:
    for n, p in enumerate(book.packets.values(), 1):
        yield dumps(packet_record(command, n, probe_of(p), topo, src=p.src, dst=p.dst,
                                  what=p.what, echo=p.echo, clock=clock))
