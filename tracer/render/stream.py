"""``brtrace trace`` output: every packet printed as soon as its journey is done.

Why streaming: holding every journey until the end is what made a long
trace exceed the correlator's bounds and silently lose its oldest packets
(issue 18). The correlator hands finished journeys out (``retire``), they
are printed and forgotten, and whatever the bounds still forgot is counted
and said in the summary — never left out without a word.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TextIO

from tracer.correlate import Journey
from tracer.jsonout import NO_CLOCK, WallClock, dumps, journey_packet, packet_record, summary_record
from tracer.netfilter.annotate import name_nat, needs_counters
from tracer.netfilter.rules import Counters
from tracer.render.text import arp_words, drop_text, hop_table, packet_line
from tracer.topology.model import Topology

EVICTED_TEXT = "packets not shown (evicted before completion)"


class PacketPrinter:
    """Prints journeys as text or one JSON object each, and counts them."""

    def __init__(self, topo: Topology, as_json: bool, out: TextIO | None = None,
                 clock: WallClock = NO_CLOCK, nf: Callable[[], Counters] | None = None) -> None:
        self.topo, self.as_json = topo, as_json
        self.out = out or sys.stdout
        self.printed = 0
        self.clock = clock  # JSON: kernel times to wall-clock times
        self.statuses: list[str] = []  # JSON: each record's status, for the summary record
        self.nf = nf  # rule counters since the trace began (tracer/netfilter/read.LiveCounters)

    def show(self, journeys: Iterable[Journey]) -> None:
        for j in journeys:
            self._one(j)
            self.printed += 1

    def _one(self, j: Journey) -> None:
        p = journey_packet(j, self.topo, self.printed + 1)
        # counters are read (a tool run per namespace) only for a packet they say something about
        nf = self.nf() if self.nf is not None and needs_counters(p.hops) else None
        if self.as_json:  # the one JSON schema of ping/trace/replay (docs/json-schema.md)
            self.statuses.append(str(p.status))
            print(dumps(packet_record("trace", p.pid, p, self.topo, clock=self.clock, paired=False, nf=nf)),
                  file=self.out)
            return
        arp = arp_words(p.hops) if j.key[0] == "arp" else ""  # its own words, not its key's numbers
        head = f"packet {arp}" if arp else ""
        lines = [head or packet_line(p.pid, p, j.packet(), self.topo)]
        lines += hop_table(name_nat(p.hops, nf, reply=bool(p.reply)))
        lines += drop_text(p, self.topo, nf, diagnose_all=False)
        print("\n".join(lines), file=self.out)
        print(file=self.out)

    def summary(self, events: int, lost: int, evicted: int) -> str:
        """The closing line (stderr); with JSON also the last record, of type ``summary``."""
        if self.as_json:
            print(dumps(summary_record("trace", self.statuses, events, lost, clock=self.clock,
                                       evicted=evicted)), file=self.out, flush=True)
        return summary_line(self.printed, events, lost, evicted)


def summary_line(packets: int, events: int, lost: int, evicted: int) -> str:
    return f"brtrace: {packets} packets, {events} events, {lost} lost, {evicted} {EVICTED_TEXT}"
