"""``brtrace trace`` output: every packet printed as soon as its journey is done.

Why streaming: holding every journey until the end is what made a long
trace exceed the correlator's bounds and silently lose its oldest packets
(issue 18). The correlator hands finished journeys out (``retire``), they
are printed and forgotten, and whatever the bounds still forgot is counted
and said in the summary — never left out without a word.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from tracer.correlate import Journey, build_hops
from tracer.jsonout import NO_CLOCK, WallClock, dumps, journey_packet, packet_record, summary_record
from tracer.render.inert import inert
from tracer.render.text import arp_words, hop_table
from tracer.topology.model import Topology

EVICTED_TEXT = "packets not shown (evicted before completion)"


class PacketPrinter:
    """Prints journeys as text or one JSON object each, and counts them."""

    def __init__(self, topo: Topology, as_json: bool, out: TextIO | None = None,
                 clock: WallClock = NO_CLOCK) -> None:
        self.topo, self.as_json = topo, as_json
        self.out = out or sys.stdout
        self.printed = 0
        self.clock = clock  # JSON: kernel times to wall-clock times
        self.statuses: list[str] = []  # JSON: each record's status, for the summary record

    def show(self, journeys: Iterable[Journey]) -> None:
        for j in journeys:
            self._one(j)
            self.printed += 1

    def _one(self, j: Journey) -> None:
        hops = build_hops(j, self.topo)
        k = j.packet()
        if self.as_json:  # the one JSON schema of ping/trace/replay (docs/json-schema.md)
            p = journey_packet(j, self.topo, self.printed + 1)
            self.statuses.append(str(p.status))
            print(dumps(packet_record("trace", p.pid, p, self.topo, clock=self.clock, paired=False)),
                  file=self.out)
        else:
            arp = arp_words(hops) if j.key[0] == "arp" else ""  # its own words, not its key's numbers
            head = arp or f"{inert(' '.join(str(x) for x in j.key))}  {k.src} → {k.dst}"
            print(f"packet {head}", file=self.out)
            print("\n".join(hop_table(hops)), file=self.out)
            print(file=self.out)

    def summary(self, events: int, lost: int, evicted: int) -> str:
        """The closing line (stderr); with JSON also the last record, of type ``summary``."""
        if self.as_json:
            print(dumps(summary_record("trace", self.statuses, events, lost, clock=self.clock,
                                       evicted=evicted)), file=self.out, flush=True)
        return summary_line(self.printed, events, lost, evicted)


def summary_line(packets: int, events: int, lost: int, evicted: int) -> str:
    return f"brtrace: {packets} packets, {events} events, {lost} lost, {evicted} {EVICTED_TEXT}"
