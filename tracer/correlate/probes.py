"""Per-probe results of ``brtrace ping``: request and reply journeys, status, RTT."""

from __future__ import annotations

from dataclasses import dataclass

from tracer.correlate.correlator import Correlator
from tracer.correlate.hops import build_hops
from tracer.correlate.journey import DELIVERED, DROPPED, UNANSWERED, Hop
from tracer.model import ICMP_ECHO, ICMP_ECHOREPLY
from tracer.topology.model import Topology


@dataclass(frozen=True, slots=True)
class ProbeResult:
    seq: int
    ident: int
    status: str
    request: tuple[Hop, ...]
    reply: tuple[Hop, ...]
    rtt_ns: int | None = None
    error: str = ""

    @property
    def drop(self) -> Hop | None:
        for h in self.request + self.reply:
            if h.verb == "drop":
                return h
        return None

    @property
    def t0(self) -> int:
        hops = self.request or self.reply
        return hops[0].t_ns if hops else 0


def probe_result(corr: Correlator, topo: Topology, ident: int, seq: int,
                 rtt_ns: int | None = None, error: str = "") -> ProbeResult:
    req = corr.icmp_journey(ICMP_ECHO, ident, seq)
    rep = corr.icmp_journey(ICMP_ECHOREPLY, ident, seq)
    rq = tuple(build_hops(req, topo)) if req else ()
    rp = tuple(build_hops(rep, topo)) if rep else ()
    dropped = any(h.verb == "drop" for h in rq + rp)
    if rtt_ns is not None:
        status = DELIVERED
    elif dropped:
        status = DROPPED
    else:
        status = UNANSWERED
    return ProbeResult(seq, ident, status, rq, rp, rtt_ns, error)
