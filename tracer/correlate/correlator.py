"""Assign events to journeys: one journey per packet, across netns, VXLAN and NAT.

Events are matched by packet key first (see ``packet_key``). skb addresses
only *help*: an unknown key seen on an skb that a journey used moments ago on
a NAT-compatible key is the same packet after NAT; skbs are reused and
cloned, so an address alone never decides. Route lookups carry no packet: the
probe ties them to the skb last handled on that CPU, or they wait for the
next event on that CPU whose destination they looked up.
"""

from __future__ import annotations

import gc
from collections import OrderedDict
from collections.abc import Iterable

import numpy as np

from tracer.correlate.columns import (
    Columns,
    columns,
    key_ids,
    key_tuples,
    last_by,
    prev_on_skb,
)
from tracer.correlate.journey import Journey, PacketKey, nat_compatible, packet_key
from tracer.model import Event, Hook
from tracer.schema.decode import EventBatch

SKB_WINDOW_NS = 5_000_000  # an skb address is evidence for 5 ms
FIB_WINDOW_NS = 2_000_000  # a pending route lookup waits 2 ms for its packet
FDB_WINDOW_NS = 2_000_000
FREEZE_EVERY = 2000  # journeys started between two gc.freeze() calls (see _settle)


class Correlator:
    """Files events into journeys.

    Memory is bounded two ways: at most ``max_journeys`` journeys and about
    ``max_events`` events in them; past either, the oldest journeys are
    forgotten. A lazy :class:`~probes.layout.EventBatch` is filed from its
    numpy columns (one packet key per packet, not per event) and its Events
    are only built when someone reads them.
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
        self._frozen_at = 1  # self._next at the last gc.freeze()
        self.unmatched = 0

    def feed(self, events: Iterable[Event]) -> set[int]:
        """Add a batch; returns the ids of journeys that changed."""
        if isinstance(events, EventBatch):
            changed = self._feed_batch(events)
        else:
            changed = set()
            for ev in sorted(events, key=_ts):
                jid = self._place(ev)
                if jid is not None:
                    changed.add(jid)
            if len(self._by_skb) > _SKB_MAP_MAX:
                self._trim_skbs()
        self._settle()
        return changed

    def _settle(self) -> None:
        """Every FREEZE_EVERY new journeys, move what is held out of the cyclic
        collector's sight (``gc.freeze``).

        A flood keeps ~200k journeys (a couple of million objects) alive and
        starts 100k more a second, so the collector's oldest generation came
        due every few tenths of a second and walked them all: 15-50 ms with
        the GIL held, in which the ring drain thread could not run and the
        ring (19 ms of events at 1.5M/s) overflowed. Journeys hold no
        reference cycles; reference counting frees them when forgotten.
        """
        if self._next - self._frozen_at >= FREEZE_EVERY:
            self._frozen_at = self._next
            gc.freeze()

    # -- the vectorised path -------------------------------------------------
    def _feed_batch(self, batch: EventBatch) -> set[int]:
        """File a lazy batch with numpy; Python runs once per new packet key.

        Exact for batches without bridge-learning events, with every route
        lookup tied to the packet its skb last showed (the probe's normal
        case) and none waiting from earlier: else the batch is filed by runs
        (``_feed_runs``), which places events as one at a time would. Route
        relevance is judged against the latest event of the lookup's skb.
        """
        if not len(batch):
            return set()
        cols = columns(batch.arr)
        if self._pending_fib or bool((cols.hook == _FDB).any()):
            return self._feed_runs(batch, cols)
        fib = cols.hook == _FIB
        matched = ~fib & (cols.lo != 0)  # events that join a journey by their key
        prev, skbs, skb_last = prev_on_skb(cols.skb, matched)
        fib_pos = np.flatnonzero(fib)
        fib_out = self._tie_fibs(cols, fib_pos, prev)
        if fib_out is None:
            return self._feed_runs(batch, cols)
        mpos = np.flatnonzero(matched)
        kid, first = key_ids(cols.hi[mpos], cols.lo[mpos])
        jid_of = self._decide(cols, mpos, kid, mpos[first], prev)
        self.unmatched += int(np.count_nonzero(~fib & (cols.lo == 0)))
        jids = np.zeros(len(batch), dtype=np.int64)
        jids[mpos] = np.array(jid_of, dtype=np.int64)[kid]
        if len(fib_pos):
            r = prev[fib_pos]
            jids[fib_pos] = np.where(r >= 0, jids[np.maximum(r, 0)], 0)
            for fp, jj in fib_out.items():
                jids[fp] = jj
        changed = self._file_runs(batch, cols, jids)
        self._remember(cols, jids, mpos, skbs, skb_last)
        return changed

    def _tie_fibs(self, cols: Columns, fib_pos: np.ndarray, prev: np.ndarray) -> dict[int, int] | None:
        """Tie each route lookup to the packet its skb last showed: in this batch
        (checked with numpy) or in an earlier one (returned, by position). None:
        some lookup is not tied, the batch must be filed by runs."""
        out: dict[int, int] = {}
        if not len(fib_pos):
            return out
        r = prev[fib_pos]
        inb = r >= 0
        rr = np.where(inb, r, 0)
        ts, f_rec, k_rec = cols.ts, cols.records(fib_pos), cols.records(rr)
        fib_dst = cols.fib_dst_rec[f_rec]
        ok_in = (cols.skb[fib_pos] != 0) & (ts[fib_pos] - ts[rr] < SKB_WINDOW_NS) & (
            (fib_dst == cols.key_dst_rec[k_rec]) | (fib_dst == cols.fib_dst_rec[k_rec]))
        if not ok_in[inb].all():
            return None
        outside = ~inb
        for fp, fskb, fts, fdst in zip(fib_pos[outside].tolist(), cols.skb[fib_pos[outside]].tolist(),
                                       ts[fib_pos[outside]].tolist(), fib_dst[outside].tolist()):
            fhit = self._by_skb.get(fskb) if fskb else None
            fj = self.journeys.get(fhit[0]) if fhit and fts - fhit[1] < SKB_WINDOW_NS else None
            if fhit is None or fj is None or not _fib_relevant_dst(fdst, fj.last()):
                return None
            out[fp] = fhit[0]
        return out

    def _decide(self, cols: Columns, mpos: np.ndarray, kid: np.ndarray, fpos: np.ndarray,
                prev: np.ndarray) -> list[int]:
        """The journey of every packet key (by key id), deciding in the order the keys
        first show up, as one at a time would: known key, else NAT'd from the
        packet its skb last carried, else new."""
        kid_at = np.empty(len(cols.ts), dtype=np.int64)
        kid_at[mpos] = kid
        rp = prev[fpos]
        had = np.maximum(rp, 0)
        keys = key_tuples(cols.hi[fpos], cols.lo[fpos])
        journeys, by_key, by_skb, new = self.journeys, self._by_key, self._by_skb, self._new
        jid_of: list[int] = []
        for key, r, rk, skb, ts, ts_prev in zip(keys, rp.tolist(), kid_at[had].tolist(),
                                                  cols.skb[fpos].tolist(), cols.ts[fpos].tolist(),
                                                  cols.ts[had].tolist()):
            found = by_key.get(key)
            if found is None or found not in journeys:
                hit = (jid_of[rk], ts_prev) if r >= 0 else by_skb.get(skb)
                if hit is None or ts - hit[1] >= SKB_WINDOW_NS or hit[0] not in journeys:
                    found = new(key)
                else:
                    found = self._journey_for_hit(key, hit, ts)
            jid_of.append(found)
        return jid_of

    def _file_runs(self, batch: EventBatch, cols: Columns, jids: np.ndarray) -> set[int]:
        """File every journey's events of this batch as one run, in time order."""
        filed = np.flatnonzero(jids)
        changed: set[int] = set()
        if not len(filed):
            return changed
        by_j = filed[np.argsort(jids[filed], kind="stable")]
        js = jids[by_j]
        cut = np.flatnonzero(js[1:] != js[:-1]) + 1
        starts = np.concatenate(([0], cut))
        ends = np.concatenate((cut, [len(by_j)])).tolist()
        idx = cols.records(by_j)  # shared by the runs, as an array: 8 bytes an event
        journeys = self.journeys
        held = 0
        for a, b, j_id in zip(starts.tolist(), ends, js[starts].tolist()):
            j = journeys.get(j_id)
            if j is None:  # forgotten within this batch (more new packets than max_journeys)
                continue
            j.add_run(batch, idx, a, b)
            held += b - a
            changed.add(j_id)
        self._held += held
        return changed

    def _remember(self, cols: Columns, jids: np.ndarray, mpos: np.ndarray, skbs: np.ndarray,
                  skb_last: np.ndarray) -> None:
        """What the skb and CPU maps keep: each one's latest matched event."""
        ts = cols.ts
        by_skb = self._by_skb
        by_skb.update(zip(skbs.tolist(), zip(jids[skb_last].tolist(), ts[skb_last].tolist())))
        cpus, cpu_last = last_by(cols.cpu[mpos], mpos)
        self._last_on_cpu.update(zip(cpus.tolist(), zip(jids[cpu_last].tolist(), ts[cpu_last].tolist())))
        if len(by_skb) > _SKB_MAP_MAX:
            self._trim_skbs()

    def _feed_runs(self, batch: EventBatch, cols: Columns) -> set[int]:
        """File a lazy batch by runs: consecutive events (in time order) of one
        packet key on one skb and CPU are placed as one, exactly as one at a
        time would place them (only the run's first event can start or alias
        a journey or claim route lookups; the last one is what the skb and CPU
        maps remember)."""
        n = len(batch)
        changed: set[int] = set()
        kid_s, first = key_ids(cols.hi, cols.lo)
        keys = key_tuples(cols.hi[first], cols.lo[first])
        key_dst, fib_dst = cols.key_dst_rec.tolist(), cols.fib_dst_rec.tolist()  # by record index
        ts_s, skb_s, cpu_s, hook_s = cols.ts, cols.skb, cols.cpu, cols.hook
        special = (hook_s == _FIB) | (hook_s == _FDB)
        brk = np.ones(n, dtype=bool)
        brk[1:] = ((kid_s[1:] != kid_s[:-1]) | (skb_s[1:] != skb_s[:-1]) | (cpu_s[1:] != cpu_s[:-1])
                   | special[1:] | special[:-1])
        starts = np.flatnonzero(brk)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = n
        order_l = cols.records(np.arange(n)).tolist()
        journeys, by_skb, last_cpu, pending = (self.journeys, self._by_skb,
                                               self._last_on_cpu, self._pending_fib)
        jid_of = [0] * len(keys)
        runs = zip(starts.tolist(), ends.tolist(), ts_s[starts].tolist(), ts_s[ends - 1].tolist(),
                   skb_s[starts].tolist(), cpu_s[starts].tolist(), hook_s[starts].tolist(),
                   kid_s[starts].tolist())
        for p, q, ts, ts_last, skb, cpu, hook, k in runs:
            if hook == _FIB:
                i = order_l[p]
                hit = by_skb.get(skb) if skb else None
                if hit and ts - hit[1] < SKB_WINDOW_NS:
                    j = journeys.get(hit[0])
                    if j is not None:
                        li = j.last_index(batch)
                        if li is not None:
                            relevant = fib_dst[i] == key_dst[li] or fib_dst[i] == fib_dst[li]
                        else:
                            last = j.last()
                            relevant = fib_dst[i] in (last.key.daddr, last.outer.daddr)
                        if relevant:
                            j.add_run(batch, order_l, p, p + 1)
                            self._held += 1
                            changed.add(hit[0])
                            continue
                pending.setdefault(cpu, []).append(batch[i])
                continue
            if hook == _FDB:
                jid = self._place_fdb(batch[order_l[p]])
                if jid is not None:
                    changed.add(jid)
                continue
            jid = jid_of[k]
            j = journeys.get(jid) if jid else None
            if j is None:
                key = keys[k]
                if key is None:
                    self.unmatched += q - p
                    continue
                jid = jid_of[k] = self._journey_for(key, skb, ts)
                j = journeys[jid]
            if pending and cpu in pending:
                self._claim_fib(batch[order_l[p]], j)
            j.add_run(batch, order_l, p, q)
            self._held += q - p
            by_skb[skb] = (jid, ts_last)
            last_cpu[cpu] = (jid, ts_last)
            changed.add(jid)
        if len(by_skb) > _SKB_MAP_MAX:
            self._trim_skbs()
        return changed

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
        return self._new(key)

    def _new(self, key: PacketKey) -> int:
        jid = self._next
        self._next = jid + 1
        journeys = self.journeys
        journeys[jid] = Journey(jid, key)
        self._by_key[key] = jid
        if self._held > self._max_events or len(journeys) > self._max:
            self._forget_oldest()
        return jid

    def _forget_oldest(self) -> None:
        """Past either bound, forget the oldest journeys (first in, first out)."""
        journeys, by_key, most, most_events = self.journeys, self._by_key, self._max, self._max_events
        held = self._held
        while len(journeys) > 1 and (len(journeys) > most or held > most_events):
            _, old = journeys.popitem(last=False)
            held -= old.count
            if by_key.get(old.key) == old.jid:
                del by_key[old.key]
            for k in old.aliases:
                if by_key.get(k) == old.jid:
                    del by_key[k]
        self._held = held

    def _trim_skbs(self) -> None:
        """skb addresses only count for SKB_WINDOW_NS: forget older ones."""
        newest = max(ts for _, ts in self._by_skb.values())
        self._by_skb = {s: v for s, v in self._by_skb.items()
                        if newest - v[1] < SKB_WINDOW_NS and v[0] in self.journeys}

    def _place_fib(self, ev: Event) -> int | None:
        hit = self._by_skb.get(ev.skb) if ev.skb else None
        if hit and ev.ts_ns - hit[1] < SKB_WINDOW_NS and hit[0] in self.journeys:
            j = self.journeys[hit[0]]
            if _fib_relevant(ev, j.last()):
                j.add(ev)
                self._held += 1
                return hit[0]
        self._pending_fib.setdefault(ev.cpu, []).append(ev)
        return None

    def _claim_fib(self, ev: Event, j: Journey) -> None:
        """Attach route lookups made on this CPU just before this packet showed up."""
        pending = self._pending_fib.pop(ev.cpu, None)
        if not pending:
            return
        places = {ev.netns, j.last().netns if j._items else ev.netns, 0}
        for f in pending:
            if ev.ts_ns - f.ts_ns < FIB_WINDOW_NS and _fib_relevant(f, ev) and f.netns in places:
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


def _ts(ev: Event) -> int:
    return ev.ts_ns


_FIB, _FDB = int(Hook.FIB_TABLE_LOOKUP), int(Hook.BR_FDB_UPDATE)
_SKB_MAP_MAX = 1 << 16


def _fib_relevant_dst(fib_daddr: int, pkt: Event) -> bool:
    return fib_daddr in (pkt.key.daddr, pkt.outer.daddr)


def _fib_relevant(fib: Event, pkt: Event) -> bool:
    """A lookup belongs to a packet if it routes the packet's (outer or inner)
    destination. Reverse (rp_filter) lookups are left out on purpose: they
    look exactly like the reply's own route lookup, and an rp_filter drop is
    named by kfree_skb's reason anyway."""
    return fib.outer.daddr in (pkt.key.daddr, pkt.outer.daddr)
