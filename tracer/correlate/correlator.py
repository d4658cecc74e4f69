"""Assign events to journeys: one journey per packet, across netns, VXLAN and NAT.

Events are matched by packet key first (see ``packet_key``). skb addresses
only *help*: an unknown key seen on an skb that a journey used moments ago on
a NAT-compatible key is the same packet after NAT; skbs are reused and
cloned, so an address alone never decides. Route lookups carry no packet: the
probe ties them to the skb last handled on that CPU, or they wait for the
next event on that CPU whose destination they looked up.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterable

from tracer.correlate.journey import Journey, PacketKey, nat_compatible, packet_key
from tracer.model import Event, Hook

SKB_WINDOW_NS = 5_000_000  # an skb address is evidence for 5 ms
FIB_WINDOW_NS = 2_000_000  # a pending route lookup waits 2 ms for its packet
FDB_WINDOW_NS = 2_000_000


class Correlator:
    def __init__(self, max_journeys: int = 200_000) -> None:
        self.journeys: OrderedDict[int, Journey] = OrderedDict()
        self._by_key: dict[PacketKey, int] = {}
        self._by_skb: dict[int, tuple[int, int]] = {}  # skb -> (jid, ts)
        self._last_on_cpu: dict[int, tuple[int, int]] = {}  # cpu -> (jid, ts)
        self._pending_fib: dict[int, list[Event]] = {}
        self._next = 1
        self._max = max_journeys
        self.unmatched = 0

    def feed(self, events: Iterable[Event]) -> set[int]:
        """Add a batch; returns the ids of journeys that changed."""
        changed: set[int] = set()
        for ev in sorted(events, key=lambda e: e.ts_ns):
            jid = self._place(ev)
            if jid is not None:
                changed.add(jid)
        return changed

    def _place(self, ev: Event) -> int | None:
        if ev.hook == Hook.FIB_TABLE_LOOKUP:
            return self._place_fib(ev)
        if ev.hook == Hook.BR_FDB_UPDATE:
            return self._place_fdb(ev)
        key = packet_key(ev)
        if key is None:
            self.unmatched += 1
            return None
        jid = self._journey_for(key, ev)
        j = self.journeys[jid]
        self._claim_fib(ev, j)
        j.events.append(ev)
        self._by_skb[ev.skb] = (jid, ev.ts_ns)
        self._last_on_cpu[ev.cpu] = (jid, ev.ts_ns)
        return jid

    def _journey_for(self, key: PacketKey, ev: Event) -> int:
        jid = self._by_key.get(key)
        if jid is not None and jid in self.journeys:
            return jid
        hit = self._by_skb.get(ev.skb)
        if hit and ev.ts_ns - hit[1] < SKB_WINDOW_NS and hit[0] in self.journeys:
            j = self.journeys[hit[0]]
            if nat_compatible(j.key, key):
                j.aliases.append(key)
                self._by_key[key] = j.jid
                return j.jid
        return self._new(key)

    def _new(self, key: PacketKey) -> int:
        jid, self._next = self._next, self._next + 1
        self.journeys[jid] = Journey(jid, key)
        self._by_key[key] = jid
        while len(self.journeys) > self._max:
            _, old = self.journeys.popitem(last=False)
            for k in [old.key, *old.aliases]:
                if self._by_key.get(k) == old.jid:
                    del self._by_key[k]
        return jid

    def _place_fib(self, ev: Event) -> int | None:
        hit = self._by_skb.get(ev.skb) if ev.skb else None
        if hit and ev.ts_ns - hit[1] < SKB_WINDOW_NS and hit[0] in self.journeys:
            j = self.journeys[hit[0]]
            if _fib_relevant(ev, j.events[-1]):
                j.events.append(ev)
                return hit[0]
        self._pending_fib.setdefault(ev.cpu, []).append(ev)
        return None

    def _claim_fib(self, ev: Event, j: Journey) -> None:
        """Attach route lookups made on this CPU just before this packet showed up."""
        pending = self._pending_fib.pop(ev.cpu, None)
        if not pending:
            return
        places = {ev.netns, j.events[-1].netns if j.events else ev.netns, 0}
        for f in pending:
            if ev.ts_ns - f.ts_ns < FIB_WINDOW_NS and _fib_relevant(f, ev) and f.netns in places:
                j.events.append(f)

    def _place_fdb(self, ev: Event) -> int | None:
        last = self._last_on_cpu.get(ev.cpu)
        if not last or ev.ts_ns - last[1] > FDB_WINDOW_NS or last[0] not in self.journeys:
            self.unmatched += 1
            return None
        j = self.journeys[last[0]]
        if any(e.src_mac == ev.fdb_mac or e.inner_src_mac == ev.fdb_mac for e in j.events[-4:]):
            j.events.append(ev)
            return j.jid
        self.unmatched += 1
        return None

    def find(self, key: PacketKey) -> Journey | None:
        jid = self._by_key.get(key)
        return self.journeys.get(jid) if jid is not None else None

    def icmp_journey(self, icmp_type: int, ident: int, seq: int) -> Journey | None:
        return self.find(("icmp", icmp_type, ident, seq))


def _fib_relevant(fib: Event, pkt: Event) -> bool:
    """A lookup belongs to a packet if it routes the packet's (outer or inner)
    destination. Reverse (rp_filter) lookups are left out on purpose: they
    look exactly like the reply's own route lookup, and an rp_filter drop is
    named by kfree_skb's reason anyway."""
    return fib.outer.daddr in (pkt.key.daddr, pkt.outer.daddr)
