"""Packets as every view shows them: journeys paired into request and reply, with status and RTT.

One model for the live TUI, ``replay --plain/--json/--explain`` and ``ping``:
a :class:`Packet` is an echo exchange (request and reply journeys joined by
ICMP id and sequence) or any other single journey. :class:`PacketBook` builds
them incrementally from the journey ids the correlator reports as changed, so
a batch costs what it changed, not what has been seen; status timeouts run
on *event* time, never the wall clock, so a replay shows the same thing on
every run. ``ping`` knows more than the events (the socket saw the reply),
so :func:`probe_packet` builds one probe's Packet from that answer.

A long live view cannot keep every packet's hops (a flood's hops and their
events are most of its memory, issue 18), so a settled packet can be made
*light* (:meth:`PacketBook.lighten`): its row stays, as a slot in the book's
columns (``packet.PacketRows``), its hops go, and :func:`hops_of` finds them
again in a correlator re-fed with the events the packet spanned.
"""

from __future__ import annotations

from tracer.correlate.correlator import Correlator
from tracer.correlate.hops import build_hops
from tracer.correlate.journey import Hop, Journey
from tracer.correlate.packet import Packet, PacketRows, echo_what
from tracer.correlate.vocab import Status, Verb
from tracer.model import ICMP_ECHO, ICMP_ECHOREPLY
from tracer.ndp import ndp_name
from tracer.render.inert import inert
from tracer.topology.model import Topology

__all__ = ["ANSWER_TIMEOUT_NS", "Packet", "PacketBook", "hops_of", "journey_key", "packet_key",
           "probe_packet"]
ANSWER_TIMEOUT_NS = 1_000_000_000  # a packet not done after 1 s of event time is unanswered


class PacketBook:
    """Maps journeys to packets and keeps every packet's status current."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self.packets = PacketRows()  # light packets as columns (tracer/correlate/packet.py)
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
            if self.packets.is_light(pid):
                touched.add(pid)  # settled: its status stays; hops_of reads the journey again
                continue
            self._refresh(self.packets[pid], j)
            touched.add(pid)
        touched |= self._expire(final)
        return new, touched

    def _packet_for(self, j: Journey) -> tuple[int, bool]:
        pid = self._by_jid.get(j.jid)
        if pid is not None:
            return pid, False
        echo = _echo(j)
        if echo is not None:
            pid = self._by_echo.get(echo)
            if pid is not None:
                self._by_jid[j.jid] = pid
                return pid, False
        pid = len(self.packets) + 1
        p = Packet(pid, _what(j))
        self.packets.add(p)
        self._by_jid[j.jid] = pid
        if echo is not None:
            self._by_echo[echo] = pid
            p.echo, (p.ident, p.seq) = True, echo
        self._open.add(pid)
        return pid, True

    def _refresh(self, p: Packet, j: Journey) -> None:
        hops = tuple(build_hops(j, self.topo))
        key = j.packet()
        if j.is_reply():
            p.reply = hops
            p.src, p.dst = p.src or key.dst, p.dst or key.src
        else:
            p.request = hops
            p.src, p.dst = key.src, key.dst
        p.places = frozenset(f"{h.netns} {h.dev}" for h in p.hops)
        self._judge(p, final=False)

    def _judge(self, p: Packet, final: bool) -> None:
        if p.drop is not None:
            p.status = Status.DROPPED
        elif _delivered(p):
            p.status = Status.DELIVERED
        elif final or self.now_ns - p.t0 > ANSWER_TIMEOUT_NS:
            p.status = Status.UNANSWERED
        else:
            p.status = Status.IN_FLIGHT
        p.rtt_ns = (p.reply[-1].t_ns - p.request[0].t_ns
                    if p.status == Status.DELIVERED and p.echo and p.request and p.reply else None)
        if p.status == Status.IN_FLIGHT:
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

    def forget(self, jids: list[int]) -> list[int]:
        """The correlator handed these journeys out (they will not change): unmap
        them; returns their packets' ids, candidates for :meth:`lighten`."""
        return [pid for jid in jids if (pid := self._by_jid.pop(jid, None)) is not None]

    def lighten(self, pid: int) -> bool:
        """Drop a settled packet's hops, keeping its row (status, RTT, what, places).

        Only a packet no longer in flight is made light; its echo pairing is
        forgotten too, so a very late journey shows as a packet of its own
        rather than being lost. Its row is then a slot in the book's columns,
        not an object (``PacketRows``). Returns whether the packet is light now.
        """
        rows = self.packets
        if rows.is_light(pid):
            return True
        if pid in self._open:
            return False
        p = rows[pid]
        p.t_first = p.t0
        p.request = p.reply = ()
        p.light = True
        rows.lighten(p)
        if p.echo and self._by_echo.get((p.ident, p.seq)) == pid:
            del self._by_echo[(p.ident, p.seq)]
        return True

    def matching(self, text: str) -> list[int]:
        """Packet ids whose status, addresses or places contain ``text`` (case-insensitive)."""
        needle = text.strip().lower()
        if not needle:
            return list(self.packets)
        return [pid for pid, p in self.packets.items() if needle in p.search_text()]


def probe_packet(corr: Correlator, topo: Topology, ident: int, seq: int,
                 rtt_ns: int | None = None, error: str = "") -> Packet:
    """One ``ping`` probe; the socket's answer (``rtt_ns``) decides delivered, not the events."""
    req = corr.icmp_journey(ICMP_ECHO, ident, seq)
    rep = corr.icmp_journey(ICMP_ECHOREPLY, ident, seq)
    p = Packet(seq, echo_what(seq, ident), echo=True, seq=seq, ident=ident,
               request=tuple(build_hops(req, topo)) if req else (),
               reply=tuple(build_hops(rep, topo)) if rep else (), rtt_ns=rtt_ns, error=error)
    if rtt_ns is not None:
        p.status = Status.DELIVERED
    elif p.drop is not None:
        p.status = Status.DROPPED
    else:
        p.status = Status.UNANSWERED
    return p


def hops_of(p: Packet, corr: Correlator, topo: Topology) -> tuple[tuple[Hop, ...], tuple[Hop, ...]]:
    """(request, reply) hops of ``p`` found in ``corr`` (re-fed with the events
    ``p`` spanned): an echo by id and sequence, another packet by what it is
    and when it began. Empty when the events are not there."""
    if p.echo:
        req = corr.icmp_journey(ICMP_ECHO, p.ident, p.seq)
        rep = corr.icmp_journey(ICMP_ECHOREPLY, p.ident, p.seq)
        return (tuple(build_hops(req, topo)) if req else (),
                tuple(build_hops(rep, topo)) if rep else ())
    key = packet_key(p)
    for j in corr.journeys.values():
        if j.events and journey_key(j) == key:
            hops = tuple(build_hops(j, topo))
            return ((), hops) if j.is_reply() else (hops, ())
    return (), ()


def packet_key(p: Packet) -> tuple[object, ...]:
    """What finds a packet's journeys again in a correlator re-fed with its
    events (``hops_of``, the TUI's pcap filter over light rows)."""
    return ("echo", p.ident, p.seq) if p.echo else (p.t0, p.what)


def journey_key(j: Journey) -> tuple[object, ...]:
    """``packet_key`` of the packet journey ``j`` belongs to (``j`` has events)."""
    echo = _echo(j)
    return ("echo", *echo) if echo is not None else (j.events[0].ts_ns, _what(j))


def _echo(j: Journey) -> tuple[int, int] | None:
    """(id, seq) of an echo request or reply journey: what pairs the two."""
    icmp = j.icmp
    if icmp is None or icmp[0] not in (ICMP_ECHO, ICMP_ECHOREPLY):
        return None
    return icmp[1], icmp[2]


def _delivered(p: Packet) -> bool:
    hops = p.reply if p.echo else p.request
    return any(h.verb == Verb.DELIVER for h in hops)


def _what(j: Journey) -> str:
    """A short, inert description of the packet (kind and ids)."""
    k = j.key
    if k[0] == "icmp":
        return echo_what(int(k[3]), int(k[2]))  # type: ignore[call-overload]
    if k[0] == "arp":
        return "arp"
    ndp = ndp_name(j.packet())
    if ndp is not None:
        return ndp
    proto = {6: "tcp", 17: "udp"}.get(int(k[1]), f"ip proto {k[1]}")  # type: ignore[call-overload]
    return inert(f"{proto} {k[4]}→{k[5]} id {k[6]}")
