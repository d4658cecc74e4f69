"""The packets of a correlated trace as ``ping``-style results and JSON Lines.

``replay`` and ``trace`` pair journeys into packets with the TUI's
:class:`~tui.packets.PacketBook` (an echo's request and reply are one packet);
this turns those packets into :class:`ProbeResult` s, the shape the text,
explain, diagnosis and JSON views take, so all three commands print through
the same code.
"""

from __future__ import annotations

from collections.abc import Iterator

from tracer.correlate.probes import ProbeResult
from tracer.jsonout import WallClock, dumps, packet_record
from tracer.topology.model import Topology
from tui.packets import Packet, PacketBook


def probe_of(p: Packet) -> ProbeResult:
    """A packet as a probe result: ICMP id/seq when it is an echo, else 0."""
    icmp = p.request.icmp if p.echo and p.request else (p.reply.icmp if p.echo and p.reply else None)
    return ProbeResult(seq=icmp[2] if icmp else 0, ident=icmp[1] if icmp else 0, status=p.status,
                       request=p.req_hops, reply=p.rep_hops, rtt_ns=p.rtt_ns)


def first_ts(book: PacketBook) -> int | None:
    """The earliest hop time of the book, to anchor a recording's wall clock."""
    ts = [p.t0 for p in book.packets.values() if p.hops]
    return min(ts) if ts else None


def json_lines(command: str, book: PacketBook, topo: Topology, clock: WallClock) -> Iterator[str]:
    for n, p in enumerate(book.packets.values(), 1):
        yield dumps(packet_record(command, n, probe_of(p), topo, src=p.src, dst=p.dst,
                                  what=p.what, echo=p.echo, clock=clock))
