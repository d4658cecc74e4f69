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
from tracer.correlate.runs import RunFiler
from tracer.correlate.state import (
    FDB_WINDOW_NS,
    FIB_WINDOW_NS,
    HURRY_NS,
    RETIRE_NS,
    SKB_MAP_MAX,
    SKB_WINDOW_NS,
    fib_relevant_dst,
)
from tracer.model import Event, Hook
from tracer.schema.decode import EventBatch

__all__ = ["FDB_WINDOW_NS", "FIB_WINDOW_NS", "HURRY_NS", "RETIRE_NS", "SKB_WINDOW_NS", "Correlator"]
JOURNEYS_PER_FREEZE = 2000  # journeys started between two gc.freeze() calls (see _settle)
_FIB, _FDB = int(Hook.FIB_TABLE_LOOKUP), int(Hook.BR_FDB_UPDATE)


class Correlator(RunFiler):
    """Files events into journeys (bounds and hand-out: see :class:`CorrelatorState`).

    A lazy :class:`~tracer.schema.decode.EventBatch` is filed from its numpy columns
    (one packet key per packet, not per event) and its Events are only built
    when someone reads them.
    """

    def __init__(self, max_journeys: int = 200_000, max_events: int = 250_000) -> None:
        super().__init__(max_journeys, max_events)
        self._frozen_at = 1  # self._next at the last gc.freeze()

    def feed(self, events: Iterable[Event]) -> set[int]:
        """Add a batch; returns the ids of journeys that changed."""
        if isinstance(events, EventBatch):
            changed = self._feed_batch(events)
        else:
            changed = set()
            for ev in sorted(events, key=_ts):
                self._now = max(self._now, ev.ts_ns)
                jid = self._place(ev)
                if jid is not None:
                    changed.add(jid)
            if len(self._by_skb) > SKB_MAP_MAX:
                self._trim_skbs()
        self._settle()
        return changed

    def _settle(self) -> None:
        """Every JOURNEYS_PER_FREEZE new journeys, move what is held out of the cyclic
        collector's sight (``gc.freeze``).

        A flood keeps ~200k journeys (a couple of million objects) alive and
        starts 100k more a second, so the collector's oldest generation came
        due every few tenths of a second and walked them all: 15-50 ms with
        the GIL held, in which the ring drain thread could not run and the
        ring (19 ms of events at 1.5M/s) overflowed. Journeys hold no
        reference cycles; reference counting frees them when forgotten.
        """
        if self._next - self._frozen_at >= JOURNEYS_PER_FREEZE:
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
        self._now = max(self._now, int(cols.ts[-1]))
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
                                       ts[fib_pos[outside]].tolist(), fib_dst[outside].tolist(),
                                       strict=True):
            fhit = self._by_skb.get(fskb) if fskb else None
            fj = self.journeys.get(fhit[0]) if fhit and fts - fhit[1] < SKB_WINDOW_NS else None
            if fhit is None or fj is None or not fib_relevant_dst(fdst, fj.last()):
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
                                                  cols.ts[had].tolist(), strict=True):
            found = by_key.get(key)
            if found is None or found not in journeys:
                hit = (jid_of[rk], ts_prev) if r >= 0 else by_skb.get(skb)
                if hit is None or ts - hit[1] >= SKB_WINDOW_NS or hit[0] not in journeys:
                    found = new(key, ts)
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
        for a, b, j_id in zip(starts.tolist(), ends, js[starts].tolist(), strict=True):
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
        last = zip(jids[skb_last].tolist(), ts[skb_last].tolist(), strict=True)
        by_skb.update(zip(skbs.tolist(), last, strict=True))
        cpus, cpu_last = last_by(cols.cpu[mpos], mpos)
        on_cpu = zip(jids[cpu_last].tolist(), ts[cpu_last].tolist(), strict=True)
        self._last_on_cpu.update(zip(cpus.tolist(), on_cpu, strict=True))
        if len(by_skb) > SKB_MAP_MAX:
            self._trim_skbs()


def _ts(ev: Event) -> int:
    return ev.ts_ns
