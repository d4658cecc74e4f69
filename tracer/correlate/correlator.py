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
from collections.abc import Iterable

import numpy as np

from probes.layout import F_INNER, EventBatch
from tracer.correlate.journey import Journey, PacketKey, nat_compatible, packet_key
from tracer.model import ETH_P_ARP, ICMP_ECHO, ICMP_ECHOREPLY, IPPROTO_ICMP, Event, Hook

SKB_WINDOW_NS = 5_000_000  # an skb address is evidence for 5 ms
FIB_WINDOW_NS = 2_000_000  # a pending route lookup waits 2 ms for its packet
FDB_WINDOW_NS = 2_000_000


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
        self.unmatched = 0

    def feed(self, events: Iterable[Event]) -> set[int]:
        """Add a batch; returns the ids of journeys that changed."""
        if isinstance(events, EventBatch):
            return self._feed_batch(events)
        changed: set[int] = set()
        for ev in sorted(events, key=_ts):
            jid = self._place(ev)
            if jid is not None:
                changed.add(jid)
        if len(self._by_skb) > _SKB_MAP_MAX:
            self._trim_skbs()
        return changed

    # -- the vectorised path -------------------------------------------------
    def _feed_batch(self, batch: EventBatch) -> set[int]:
        """File a lazy batch with numpy; Python runs once per new packet key.

        Exact for batches without bridge-learning events, with every route
        lookup tied to the packet its skb last showed (the probe's normal
        case) and none waiting from earlier: else the batch is filed by runs
        (``_feed_runs``), which places events as one at a time would. Route
        relevance is judged against the latest event of the lookup's skb.
        """
        n = len(batch)
        if not n:
            return set()
        arr = batch.arr
        hook = arr["hook"]
        if self._pending_fib or (hook == _FDB).any():
            return self._feed_runs(batch)
        order = np.argsort(arr["ts_ns"], kind="stable")
        kid, keys, key_dst_l = _batch_keys(arr)
        ts_s, skb_s, cpu_s, kid_s = arr["ts_ns"][order], arr["skb"][order], arr["cpu"][order], kid[order]
        fib = hook[order] == _FIB
        keyless = np.array([k is None for k in keys], dtype=bool)
        matched = ~fib & ~keyless[kid_s]  # events that join a journey by their key
        pos = np.arange(n)
        # previous matched event on the same skb, for every position (-1: none in this batch)
        _, sid = np.unique(skb_s, return_inverse=True)
        sid = sid.reshape(-1).astype(np.int64)
        comb = sid * (n + 1) + pos
        mcomb = comb[matched]  # sorted already: ascending pos within... so sort
        mcomb = np.sort(mcomb)
        at = np.searchsorted(mcomb, comb) - 1
        prev = np.full(n, -1, dtype=np.int64)
        okp = at >= 0
        cand = mcomb[np.where(okp, at, 0)] if len(mcomb) else np.zeros(n, dtype=np.int64)
        okp &= (cand // (n + 1)) == sid
        prev[okp] = cand[okp] % (n + 1)
        # route lookups: all must be tied to a packet, else file by runs
        fib_pos = np.flatnonzero(fib)
        fib_dst = arr["outer"]["daddr"][order]
        key_dst = np.asarray(key_dst_l, dtype=np.int64)[order]
        fib_jid_out: dict[int, int] = {}
        if len(fib_pos):
            r = prev[fib_pos]
            inb = r >= 0
            rr = np.where(inb, r, 0)
            ok_in = (skb_s[fib_pos] != 0) & (ts_s[fib_pos] - ts_s[rr] < SKB_WINDOW_NS) & (
                (fib_dst[fib_pos] == key_dst[rr]) | (fib_dst[fib_pos] == fib_dst[rr]))
            if not ok_in[inb].all():
                return self._feed_runs(batch)
            for fp in fib_pos[~inb].tolist():  # tied to a packet of an earlier batch
                fskb, fts = int(skb_s[fp]), int(ts_s[fp])
                fhit = self._by_skb.get(fskb) if fskb else None
                fj = self.journeys.get(fhit[0]) if fhit and fts - fhit[1] < SKB_WINDOW_NS else None
                if fhit is None or fj is None or not _fib_relevant_dst(int(fib_dst[fp]), fj.last()):
                    return self._feed_runs(batch)
                fib_jid_out[fp] = fhit[0]
        # one decision per packet key first seen in this batch, in time order
        journeys, by_key, by_skb = self.journeys, self._by_key, self._by_skb
        mpos = np.flatnonzero(matched)
        uk, first = np.unique(kid_s[mpos], return_index=True)
        firsts = mpos[first]
        dec = np.argsort(firsts)
        fpos = firsts[dec]
        kid_l = kid_s.tolist()
        jid_l = [0] * len(keys)
        new = self._new
        for k, rp, skb, ts, ts_prev in zip(uk[dec].tolist(), prev[fpos].tolist(),
                                           skb_s[fpos].tolist(), ts_s[fpos].tolist(),
                                           ts_s[np.maximum(prev[fpos], 0)].tolist()):
            key = keys[k]
            found = by_key.get(key)
            if found is None or found not in journeys:
                hit = (jid_l[kid_l[rp]], ts_prev) if rp >= 0 else by_skb.get(skb)
                if hit is None or ts - hit[1] >= SKB_WINDOW_NS or hit[0] not in journeys:
                    found = new(key)
                else:
                    found = self._journey_for_hit(key, hit, ts)
            jid_l[k] = found
        jid_of = np.array(jid_l, dtype=np.int64)
        self.unmatched += int(np.count_nonzero(~fib & keyless[kid_s]))
        jids = np.zeros(n, dtype=np.int64)
        jids[matched] = jid_of[kid_s[matched]]
        if len(fib_pos):
            r = prev[fib_pos]
            jids[fib_pos] = np.where(r >= 0, jids[np.where(r >= 0, r, 0)], 0)
            for fp, jj in fib_jid_out.items():
                jids[fp] = jj
        # file every journey's events of this batch as one run, in time order
        filed = np.flatnonzero(jids)
        by_j = filed[np.argsort(jids[filed], kind="stable")]
        js = jids[by_j]
        cut = np.flatnonzero(js[1:] != js[:-1]) + 1
        idx_by_j = order[by_j]
        starts = np.concatenate(([0], cut)).tolist()
        ends = np.concatenate((cut, [len(by_j)])).tolist()
        changed: set[int] = set()
        idx_l = idx_by_j.tolist()
        for a, b, j_id in zip(starts, ends, js[starts].tolist() if len(by_j) else []):
            j = journeys.get(j_id)
            if j is None:  # forgotten within this batch (more new packets than max_journeys)
                continue
            j.add_run(batch, idx_l[a:b])
            self._held += b - a
            changed.add(j_id)
        # what the skb and CPU maps remember: each one's latest matched event
        mj, ms, mc, mt = jids[mpos][::-1], skb_s[mpos][::-1], cpu_s[mpos][::-1], ts_s[mpos][::-1]
        us, li = np.unique(ms, return_index=True)
        by_skb.update(zip(us.tolist(), zip(mj[li].tolist(), mt[li].tolist())))
        uc, lc = np.unique(mc, return_index=True)
        self._last_on_cpu.update(zip(uc.tolist(), zip(mj[lc].tolist(), mt[lc].tolist())))
        if len(by_skb) > _SKB_MAP_MAX:
            self._trim_skbs()
        return changed

    def _feed_runs(self, batch: EventBatch) -> set[int]:
        """File a lazy batch by runs: consecutive events (in time order) of one
        packet key on one skb and CPU are placed as one, exactly as one at a
        time would place them (only the run's first event can start or alias
        a journey or claim route lookups; the last one is what the skb and CPU
        maps remember)."""
        n = len(batch)
        changed: set[int] = set()
        if not n:
            return changed
        arr = batch.arr
        order = np.argsort(arr["ts_ns"], kind="stable")
        kid, keys, key_dst = _batch_keys(arr)
        fib_dst = arr["outer"]["daddr"].tolist()  # outer destination, by record index
        ts_s, skb_s, cpu_s = arr["ts_ns"][order], arr["skb"][order], arr["cpu"][order]
        hook_s, kid_s = arr["hook"][order], kid[order]
        special = (hook_s == _FIB) | (hook_s == _FDB)
        brk = np.ones(n, dtype=bool)
        brk[1:] = ((kid_s[1:] != kid_s[:-1]) | (skb_s[1:] != skb_s[:-1]) | (cpu_s[1:] != cpu_s[:-1])
                   | special[1:] | special[:-1])
        starts = np.flatnonzero(brk)
        ends = np.empty_like(starts)
        ends[:-1] = starts[1:]
        ends[-1] = n
        order_l = order.tolist()
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
                        x = j._items[-1]
                        if type(x) is tuple and x[0] is batch:
                            li = x[1][-1]
                            relevant = fib_dst[i] == key_dst[li] or fib_dst[i] == fib_dst[li]
                        else:
                            last = j.last()
                            relevant = fib_dst[i] in (last.key.daddr, last.outer.daddr)
                        if relevant:
                            j.add_run(batch, [i])
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
            j.add_run(batch, order_l[p:q])
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
                j.aliases.append(key)
                self._by_key[key] = j.jid
                return j.jid
        return self._new(key)

    def _new(self, key: PacketKey) -> int:
        jid = self._next
        self._next = jid + 1
        journeys = self.journeys
        journeys[jid] = Journey(jid, key)
        self._by_key[key] = jid
        if self._held <= self._max_events and len(journeys) <= self._max:
            return jid
        while len(journeys) > 1 and (len(journeys) > self._max or self._held > self._max_events):
            _, old = journeys.popitem(last=False)
            self._held -= old.count
            for k in [old.key, *old.aliases]:
                if self._by_key.get(k) == old.jid:
                    del self._by_key[k]
        return jid

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
_KIND_NONE, _KIND_ARP, _KIND_ICMP, _KIND_IP = 0, 1, 2, 3


def _fib_relevant_dst(fib_daddr: int, pkt: Event) -> bool:
    return fib_daddr in (pkt.key.daddr, pkt.outer.daddr)


def _batch_keys(arr: np.ndarray) -> tuple[np.ndarray, list[PacketKey | None], list[int]]:
    """``packet_key`` of every event, vectorised: (key index per event, the distinct keys,
    each event's ``key.daddr``)."""
    enc = (arr["flags"] & F_INNER) != 0
    o, i = arr["outer"], arr["inner"]

    def pick(f: str) -> np.ndarray:
        return np.where(enc, i[f], o[f])

    proto, saddr, daddr = pick("proto"), pick("saddr"), pick("daddr")
    sport, dport, ip_id, itype = pick("sport"), pick("dport"), pick("ip_id"), pick("icmp_type")
    present = (proto != 0) | (saddr != 0)
    arp = (enc & (proto == 0)) | (~enc & (arr["ethertype"] == ETH_P_ARP))
    icmp = (proto == IPPROTO_ICMP) & ((itype == ICMP_ECHO) | (itype == ICMP_ECHOREPLY))
    kind = np.where(~present, _KIND_NONE, np.where(arp, _KIND_ARP, np.where(icmp, _KIND_ICMP, _KIND_IP)))
    is_arp, is_icmp, is_ip = kind == _KIND_ARP, kind == _KIND_ICMP, kind == _KIND_IP
    u64 = np.uint64
    # the key as two 64-bit words (fields a kind does not use are zero): sorting two
    # integer columns is far cheaper than np.unique over packed bytes
    hi = ((kind.astype(u64) << u64(56))
          | (np.where(is_icmp, itype, np.where(is_ip, proto, 0)).astype(u64) << u64(48))
          | (np.where(is_arp | is_ip, saddr, 0).astype(u64) << u64(16))
          | np.where(kind != _KIND_NONE, sport, 0).astype(u64))
    lo = ((np.where(is_arp | is_ip, daddr, 0).astype(u64) << u64(32))
          | (np.where(is_icmp | is_ip, dport, 0).astype(u64) << u64(16))
          | np.where(is_ip, ip_id, 0).astype(u64))
    n = len(arr)
    o = np.lexsort((lo, hi))
    hs, ls = hi[o], lo[o]
    first = np.ones(n, dtype=bool)
    first[1:] = (hs[1:] != hs[:-1]) | (ls[1:] != ls[:-1])
    kid = np.empty(n, dtype=np.int64)
    kid[o] = np.cumsum(first) - 1
    uh, ul = hs[first], ls[first]
    cols = zip((uh >> u64(56)).tolist(), ((uh >> u64(48)) & u64(0xFF)).tolist(),
               ((uh >> u64(16)) & u64(0xFFFFFFFF)).tolist(), (uh & u64(0xFFFF)).tolist(),
               (ul >> u64(32)).tolist(), ((ul >> u64(16)) & u64(0xFFFF)).tolist(),
               (ul & u64(0xFFFF)).tolist())
    keys: list[PacketKey | None] = []
    for kd, a, s, sp, d, dp, ipid in cols:
        if kd == _KIND_ARP:
            keys.append(("arp", sp, s, d))
        elif kd == _KIND_ICMP:
            keys.append(("icmp", a, sp, dp))
        elif kd == _KIND_IP:
            keys.append(("ip", a, s, d, sp, dp, ipid))
        else:
            keys.append(None)
    return kid.reshape(-1), keys, daddr.tolist()


def _fib_relevant(fib: Event, pkt: Event) -> bool:
    """A lookup belongs to a packet if it routes the packet's (outer or inner)
    destination. Reverse (rp_filter) lookups are left out on purpose: they
    look exactly like the reply's own route lookup, and an rp_filter drop is
    named by kfree_skb's reason anyway."""
    return fib.outer.daddr in (pkt.key.daddr, pkt.outer.daddr)
