"""Each node's clock against the client's: NTP-style, then tightened by causality.

Event times are each node's own CLOCK_MONOTONIC (bpf_ktime_get_ns), which
starts at that machine's boot: offsets between nodes are arbitrary. One
exchange gives the offset within half its round trip; the best of N (the
shortest round trip) is the tightest. A VXLAN packet seen leaving one node
and arriving at another bounds the offset far better (its one-way latency is
microseconds, a gRPC round trip a few hundred): the arrival must come after
the departure, in every direction the trace saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Never place two causally ordered events closer than this after alignment.
CAUSAL_MARGIN_NS = 1


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One exchange: client sent at t0, agent received t1 and answered t2, client got it t3."""

    t0: int
    t1: int
    t2: int
    t3: int

    @property
    def rtt_ns(self) -> int:
        return max(0, (self.t3 - self.t0) - (self.t2 - self.t1))

    @property
    def offset_ns(self) -> int:
        """Agent clock minus client clock."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) // 2


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """agent_time - offset_ns == client time, give or take uncertainty_ns."""

    offset_ns: int = 0
    uncertainty_ns: int = 0
    samples: int = 0
    tightened: bool = False

    def to_dict(self) -> dict[str, int | bool]:
        return {"offset_ns": self.offset_ns, "uncertainty_ns": self.uncertainty_ns,
                "samples": self.samples, "tightened_by_causality": self.tightened}


def best_of(samples: Sequence[ClockSample]) -> ClockEstimate:
    """The exchange with the shortest round trip: its error is at most half of it."""
    if not samples:
        return ClockEstimate()
    best = min(samples, key=lambda s: s.rtt_ns)
    return ClockEstimate(best.offset_ns, (best.rtt_ns + 1) // 2, len(samples))


@dataclass(frozen=True, slots=True)
class Crossing:
    """One packet seen sent on ``tx_node`` and received on ``rx_node`` (own clocks)."""

    tx_node: str
    tx_ns: int
    rx_node: str
    rx_ns: int


def tighten(estimates: dict[str, ClockEstimate], crossings: Iterable[Crossing],
            reference: str) -> dict[str, ClockEstimate]:
    """Offsets narrowed so every crossing arrives after it left (never inverted).

    Arrival after departure, in client time: rx - off_rx > tx - off_tx, i.e.
    off_rx < rx - tx + off_tx (an upper bound on off_rx) and, seen from the
    sender, off_tx > tx - rx + off_rx (a lower bound). Bounds are applied
    outward from ``reference`` (whose offset stays), relaxed a few rounds so
    chains of nodes settle; a node's offset moves to the middle of what is
    left of [offset - u, offset + u] and the bounds.
    """
    est = dict(estimates)
    cs = list(crossings)
    for _ in range(max(1, len(est))):
        changed = False
        for node, e in est.items():
            if node == reference:
                continue
            lo, hi = _bounds(node, e, cs, est)
            new = _narrow(e, lo, hi)
            if new != e:
                est[node], changed = new, True
        if not changed:
            break
    return est


def _bounds(node: str, e: ClockEstimate, cs: list[Crossing],
            est: dict[str, ClockEstimate]) -> tuple[int | None, int | None]:
    lo: int | None = None
    hi: int | None = None
    for c in cs:
        if c.rx_node == node and c.tx_node in est and c.tx_node != node:
            bound = c.rx_ns - c.tx_ns + est[c.tx_node].offset_ns - CAUSAL_MARGIN_NS
            hi = bound if hi is None else min(hi, bound)
        elif c.tx_node == node and c.rx_node in est and c.rx_node != node:
            bound = c.tx_ns - c.rx_ns + est[c.rx_node].offset_ns + CAUSAL_MARGIN_NS
            lo = bound if lo is None else max(lo, bound)
    return lo, hi


def _narrow(e: ClockEstimate, lo: int | None, hi: int | None) -> ClockEstimate:
    """The estimate's interval cut by the causal bounds; its middle is the new offset."""
    if lo is None and hi is None:
        return e
    a = e.offset_ns - e.uncertainty_ns if lo is None else max(e.offset_ns - e.uncertainty_ns, lo)
    b = e.offset_ns + e.uncertainty_ns if hi is None else min(e.offset_ns + e.uncertainty_ns, hi)
    if a <= b:
        mid, unc = (a + b) // 2, (b - a + 1) // 2
    elif lo is not None and hi is not None and lo > hi:  # packets disagree: split the difference
        mid, unc = (lo + hi) // 2, (lo - hi + 1) // 2
    else:  # the exchange and the packets disagree: the packets are facts
        mid = min(max(e.offset_ns, lo if lo is not None else e.offset_ns),
                  hi if hi is not None else e.offset_ns)
        unc = e.uncertainty_ns
    if mid == e.offset_ns and unc == e.uncertainty_ns:
        return e
    return ClockEstimate(mid, unc, e.samples, True)


def _us(ns: int) -> str:
    return f"{ns / 1000:.1f}µs" if abs(ns) < 1_000_000 else f"{ns / 1_000_000:.2f}ms"


def nodes_note(clocks: dict[str, ClockEstimate], gone: dict[str, str] | None = None) -> str:
    """One line for a status bar: each node's clock offset and its uncertainty, and lost agents."""
    parts = []
    for n, c in clocks.items():
        sign = "+" if c.offset_ns >= 0 else "-"
        clock = f"{sign}{_us(abs(c.offset_ns))} ±{_us(c.uncertainty_ns)}"
        what = f"agent {gone[n]}" if gone and n in gone else clock
        parts.append(f"{n} {what}")
    return "nodes: " + ", ".join(parts)
