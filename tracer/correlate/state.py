"""The correlator's state and its one-event-at-a-time placement.

Split from correlator.py (which adds the vectorised batch paths on top) so
each file holds one concept: here, what a journey is found by (packet key,
skb, CPU), how route lookups and bridge learning join one, and the bounds —
journeys handed out once done (``retire``) and, past the memory bounds, the
oldest forgotten and *counted* (``evicted``), never dropped silently.
"""

from __future__ import annotations

from collections import OrderedDict

from tracer.correlate.journey import Journey, PacketKey, nat_compatible, packet_key
from tracer.model import ETH_P_ARP, Event, Hook

SKB_WINDOW_NS = 5_000_000  # an skb address is evidence for 5 ms
FIB_WINDOW_NS = 2_000_000  # a pending route lookup waits 2 ms for its packet
FDB_WINDOW_NS = 2_000_000
# A packet crosses the labs in well under a millisecond: a journey begun a
# second before the newest event is done. Under memory pressure (half the
# event bound held) 10 ms is enough, and far better than forgetting it.
RETIRE_NS = 1_000_000_000
HURRY_NS = 10_000_000
SKB_MAP_MAX = 1 << 16
FIB, FDB = int(Hook.FIB_TABLE_LOOKUP), int(Hook.BR_FDB_UPDATE)


class CorrelatorState:
    """Journeys by packet key, the skb/CPU evidence maps and the bounds.

    Memory is bounded two ways: at most ``max_journeys`` journeys and about
    ``max_events`` events in them. A consumer that streams (``trace``, the
    TUI) calls :meth:`retire` and takes the finished journeys out; past
    either bound the oldest journeys are forgotten, and ``evicted`` counts
    them so every view can say how many packets it could not show.
    """

    def __init__(self, max_journeys: int = 200_000, max_events: int = 250_000) -> None:
        self.journeys: OrderedDict[int, Journey] = OrderedDict()
        self._by_key: dict[PacketKey, int] = {}
        self._by_skb: dict[int, tuple[int, int]] = {}  # skb -> (jid, ts)
        self._last_on_cpu: dict[int, tuple[int, int]] = {}  # cpu -> (jid, ts)
        self._pending_fib: dict[int, list[Event]] = {}
        self._next = 1
        self._max = max_journeys
        self._max_events = max_events
        self._held = 0  # events filed in live journeys
        self._now = 0  # the newest event's timestamp
        self.unmatched = 0
        self.evicted = 0  # journeys forgotten by the bounds before anyone took them

    # -- handing journeys out --------------------------------------------------
    def retire(self, quiet_ns: int = RETIRE_NS) -> list[Journey]:
        """Take out (oldest first) the journeys begun ``quiet_ns`` before the newest
        event: their packets are done. With half the event bound held, those
        begun HURRY_NS before go too, so a streaming consumer never meets the
        bound at any rate it can keep up with."""
        journeys, out = self.journeys, []
        limit = self._now - quiet_ns
        hurry = self._now - min(quiet_ns, HURRY_NS)
        half = self._max_events // 2
        while journeys:
            j = journeys[next(iter(journeys))]
            if j.born_ns >= limit and (self._held <= half or j.born_ns >= hurry):
                break
            journeys.popitem(last=False)
            self._held -= j.count
            self._unkey(j)
            out.append(j)
        return out

    def flush(self) -> list[Journey]:
        """Take out every journey (the end of a stream)."""
        out = list(self.journeys.values())
        for j in out:
            self._unkey(j)
        self.journeys.clear()
        self._held = 0
        return out

    def _unkey(self, j: Journey) -> None:
        by_key = self._by_key
        if by_key.get(j.key) == j.jid:
            del by_key[j.key]
        for k in j.aliases:
            if by_key.get(k) == j.jid:
                del by_key[k]

    def _forget_oldest(self) -> None:
        """Past either bound, forget the oldest journeys (first in, first out), counted."""
        journeys, by_key, most, most_events = self.journeys, self._by_key, self._max, self._max_events
        held, gone = self._held, 0
        while len(journeys) > 1 and (len(journeys) > most or held > most_events):
            _, old = journeys.popitem(last=False)  # _unkey inlined: this runs per packet at a flood
            held -= old.count
            gone += 1
            if by_key.get(old.key) == old.jid:
                del by_key[old.key]
            for k in old.aliases:
                if by_key.get(k) == old.jid:
                    del by_key[k]
        self._held = held
        self.evicted += gone

    def _trim_skbs(self) -> None:
        """skb addresses only count for SKB_WINDOW_NS: forget older ones."""
        newest = max(ts for _, ts in self._by_skb.values())
        self._by_skb = {s: v for s, v in self._by_skb.items()
                        if newest - v[1] < SKB_WINDOW_NS and v[0] in self.journeys}

    # -- one event at a time ---------------------------------------------------
    def _place(self, ev: Event) -> int | None:
        if ev.hook == Hook.FIB_TABLE_LOOKUP:
            return self._place_fib(ev)
        if ev.hook == Hook.BR_FDB_UPDATE:
            return self._place_fdb(ev)
        key = packet_key(ev)
        if key is None:
            self.unmatched += 1
            return None
        jid = self._journey_for(key, ev.skb, ev.ts_ns)
        j = self.journeys[jid]
        self._claim_fib(ev, j)
        j.add(ev)
        self._held += 1
        self._by_skb[ev.skb] = (jid, ev.ts_ns)
        self._last_on_cpu[ev.cpu] = (jid, ev.ts_ns)
        return jid

    def _journey_for(self, key: PacketKey, skb: int, ts_ns: int) -> int:
        jid = self._by_key.get(key)
        if jid is not None and jid in self.journeys:
            return jid
        return self._journey_for_hit(key, self._by_skb.get(skb), ts_ns)

    def _journey_for_hit(self, key: PacketKey, hit: tuple[int, int] | None, ts_ns: int) -> int:
        """A key not filed yet: the journey its skb's last packet belongs to if NAT
        explains the difference, else a new one."""
        if hit and ts_ns - hit[1] < SKB_WINDOW_NS and hit[0] in self.journeys:
            j = self.journeys[hit[0]]
            if nat_compatible(j.key, key):
                j.aliases += (key,)
                self._by_key[key] = j.jid
                return j.jid
        return self._new(key, ts_ns)

    def _new(self, key: PacketKey, ts_ns: int) -> int:
        jid = self._next
        self._next = jid + 1
        journeys = self.journeys
        journeys[jid] = Journey(jid, key, born_ns=ts_ns)
        self._by_key[key] = jid
        if self._held > self._max_events or len(journeys) > self._max:
            self._forget_oldest()
        return jid

    def _place_fib(self, ev: Event) -> int | None:
        hit = self._by_skb.get(ev.skb) if ev.skb else None
        if hit and ev.ts_ns - hit[1] < SKB_WINDOW_NS and hit[0] in self.journeys:
            j = self.journeys[hit[0]]
            if fib_relevant(ev, j.last()):
                j.add(ev)
                self._held += 1
                return hit[0]
        self._pending_fib.setdefault(ev.cpu, []).append(ev)
        return None

    def _claim_fib(self, ev: Event, j: Journey) -> None:
        """Attach route lookups made on this CPU just before this packet showed up.

        Not to an ARP frame: a first IP packet to a neighbour not yet resolved
        is routed (by the sending socket), then queued while the neighbour code
        sends ARP; the frames that follow on this CPU are ARP, and the lookups
        are the IP packet's, which claims them when it finally leaves.
        """
        if ev.ethertype == ETH_P_ARP or (ev.inner is not None and ev.key.proto == 0):
            return  # ARP is never routed: lookups waiting here belong to the IP packet behind it
        pending = self._pending_fib.pop(ev.cpu, None)
        if not pending:
            return
        places = {ev.netns, j.last().netns if j._items else ev.netns, 0}
        for f in pending:
            if ev.ts_ns - f.ts_ns < FIB_WINDOW_NS and fib_relevant(f, ev) and f.netns in places:
                j.add(f)
                self._held += 1

    def _place_fdb(self, ev: Event) -> int | None:
        last = self._last_on_cpu.get(ev.cpu)
        if not last or ev.ts_ns - last[1] > FDB_WINDOW_NS or last[0] not in self.journeys:
            self.unmatched += 1
            return None
        j = self.journeys[last[0]]
        if any(e.src_mac == ev.fdb_mac or e.inner_src_mac == ev.fdb_mac for e in j.tail(4)):
            j.add(ev)
            self._held += 1
            return j.jid
        self.unmatched += 1
        return None

    def find(self, key: PacketKey) -> Journey | None:
        jid = self._by_key.get(key)
        return self.journeys.get(jid) if jid is not None else None

    def icmp_journey(self, icmp_type: int, ident: int, seq: int) -> Journey | None:
        return self.find(("icmp", icmp_type, ident, seq))


def fib_relevant_dst(fib_daddr: int, pkt: Event) -> bool:
    return fib_daddr in (pkt.key.daddr, pkt.outer.daddr)


def fib_relevant(fib: Event, pkt: Event) -> bool:
    """A lookup belongs to a packet if it routes the packet's (outer or inner)
    destination. Reverse (rp_filter) lookups are left out on purpose: they
    look exactly like the reply's own route lookup, and an rp_filter drop is
    named by kfree_skb's reason anyway."""
    return fib.outer.daddr in (pkt.key.daddr, pkt.outer.daddr)
