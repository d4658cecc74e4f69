"""Packets as the TUI lists them: journeys paired into request/reply, with status and RTT.

Pure Python (no textual) so the bookkeeping is unit-testable and the app only
turns its answers into widget updates. Work is incremental: ``update`` takes
the journey ids the correlator reports as changed and rebuilds hops for those
only, so a batch costs what it changed, not what has been seen.
Status timeouts run on *event* time, never the wall clock, so a replay shows
the same thing on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.correlate import Correlator, Hop, Journey, build_hops
from tracer.correlate.journey import DELIVERED, DROPPED, IN_FLIGHT, UNANSWERED
from tracer.model import ICMP_ECHO, ICMP_ECHOREPLY
from tracer.render.text import inert
from tracer.topology.model import Topology

ANSWER_TIMEOUT_NS = 1_000_000_000  # a packet not done after 1 s of event time is unanswered


@dataclass(slots=True)
class Packet:
    """One row of the packet list: an echo exchange, or any other single journey."""

    pid: int
    what: str
    src: str = ""
    dst: str = ""
    request: Journey | None = None
    reply: Journey | None = None
    req_hops: tuple[Hop, ...] = ()
    rep_hops: tuple[Hop, ...] = ()
    status: str = IN_FLIGHT
    rtt_ns: int | None = None
    echo: bool = False
    places: frozenset[str] = field(default_factory=frozenset)

    @property
    def t0(self) -> int:
        hops = self.req_hops or self.rep_hops
        return hops[0].t_ns if hops else 0

    @property
    def hops(self) -> tuple[Hop, ...]:
        return self.req_hops + self.rep_hops

    @property
    def drop(self) -> Hop | None:
        return next((h for h in self.hops if h.verb == "drop"), None)

    def search_text(self) -> str:
        """What the filter box matches against: status, addresses, namespaces, devices."""
        return " ".join([self.status, self.what, self.src, self.dst, *sorted(self.places)]).lower()


class PacketBook:
    """Maps journeys to packets and keeps every packet's status current."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.packets: dict[int, Packet] = {}
        self._by_jid: dict[int, int] = {}
        self._by_echo: dict[tuple[int, int], int] = {}
        self._open: set[int] = set()  # pids still in flight
        self.now_ns = 0

    def update(self, corr: Correlator, changed: set[int], final: bool = False) -> tuple[list[int], set[int]]:
        """Apply changed journeys; returns (new packet ids in order, changed packet ids)."""
        new: list[int] = []
        touched: set[int] = set()
        for jid in sorted(changed):
            j = corr.journeys.get(jid)
            if j is None or not j.events:
                continue
            self.now_ns = max(self.now_ns, j.events[-1].ts_ns)
            pid, is_new = self._packet_for(j)
            if is_new:
                new.append(pid)
            self._refresh(self.packets[pid], j)
            touched.add(pid)
        touched |= self._expire(final)
        return new, touched

    def _packet_for(self, j: Journey) -> tuple[int, bool]:
        pid = self._by_jid.get(j.jid)
        if pid is not None:
            return pid, False
        echo = j.icmp
        if echo is not None and echo[0] in (ICMP_ECHO, ICMP_ECHOREPLY):
            ek = (echo[1], echo[2])
            pid = self._by_echo.get(ek)
            if pid is not None:
                self._by_jid[j.jid] = pid
                return pid, False
        pid = len(self.packets) + 1
        self.packets[pid] = Packet(pid, _what(j))
        self._by_jid[j.jid] = pid
        if echo is not None and echo[0] in (ICMP_ECHO, ICMP_ECHOREPLY):
            self._by_echo[(echo[1], echo[2])] = pid
            self.packets[pid].echo = True
        self._open.add(pid)
        return pid, True

    def _refresh(self, p: Packet, j: Journey) -> None:
        hops = tuple(build_hops(j, self.topo))
        key = j.packet()
        if j.is_reply():
            p.reply, p.rep_hops = j, hops
            p.src, p.dst = p.src or key.dst, p.dst or key.src
        else:
            p.request, p.req_hops = j, hops
            p.src, p.dst = key.src, key.dst
        p.places = frozenset(f"{h.netns} {h.dev}" for h in p.hops)
        self._judge(p, final=False)

    def _judge(self, p: Packet, final: bool) -> None:
        if p.drop is not None:
            p.status = DROPPED
        elif _delivered(p):
            p.status = DELIVERED
        elif final or self.now_ns - p.t0 > ANSWER_TIMEOUT_NS:
            p.status = UNANSWERED
        else:
            p.status = IN_FLIGHT
        p.rtt_ns = (p.rep_hops[-1].t_ns - p.req_hops[0].t_ns
                    if p.status == DELIVERED and p.echo and p.req_hops and p.rep_hops else None)
        if p.status == IN_FLIGHT:
            self._open.add(p.pid)
        else:
            self._open.discard(p.pid)

    def _expire(self, final: bool) -> set[int]:
        """Packets that ran out of time (or of recording) while waiting."""
        gone = {pid for pid in self._open
                if final or self.now_ns - self.packets[pid].t0 > ANSWER_TIMEOUT_NS}
        for pid in gone:
            self._judge(self.packets[pid], final=True)
        return gone

    def matching(self, text: str) -> list[int]:
        """Packet ids whose status, addresses or places contain ``text`` (case-insensitive)."""
        needle = text.strip().lower()
        if not needle:
            return list(self.packets)
        return [pid for pid, p in self.packets.items() if needle in p.search_text()]


def _delivered(p: Packet) -> bool:
    if p.echo:
        return any(h.verb == "deliver" for h in p.rep_hops)
    return any(h.verb == "deliver" for h in p.req_hops)


def _what(j: Journey) -> str:
    """A short, inert description of the packet (kind and ids)."""
    k = j.key
    if k[0] == "icmp":
        return f"icmp seq {k[3]} id {int(k[2]):#06x}"  # type: ignore[call-overload]
    if k[0] == "arp":
        return "arp"
    proto = {6: "tcp", 17: "udp"}.get(int(k[1]), f"ip proto {k[1]}")  # type: ignore[call-overload]
    return inert(f"{proto} {k[4]}→{k[5]} id {k[6]}")
