"""Filing a lazy batch by runs: the exact path for batches the vectorised one
cannot take (bridge learning, route lookups waiting from an earlier batch).

Consecutive events (in time order) of one packet key on one skb and CPU are
placed as one, exactly as one at a time would place them: only the run's
first event can start or alias a journey or claim route lookups, and the last
one is what the skb and CPU maps remember.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tracer.correlate.columns import Columns, key_ids, key_tuples
from tracer.correlate.journey import PacketKey
from tracer.correlate.state import FDB, FIB, SKB_MAP_MAX, SKB_WINDOW_NS, CorrelatorState
from tracer.schema.decode import EventBatch


class _RunCtx(NamedTuple):
    """What every run of one batch is filed against."""

    batch: EventBatch
    order: list[int]  # record index of each time-order position
    key_dst: list[int]  # by record index
    fib_dst: list[int]
    keys: list[PacketKey | None]  # by key id
    jid_of: list[int]  # by key id: the journey found so far


class RunFiler(CorrelatorState):
    """The correlator state plus filing by runs."""

    def _feed_runs(self, batch: EventBatch, cols: Columns) -> set[int]:
        """File a lazy batch by runs (see the module docstring)."""
        changed: set[int] = set()
        kid_s, first = key_ids(cols.hi, cols.lo)
        keys = key_tuples(cols.hi[first], cols.lo[first])
        ctx = _RunCtx(batch, cols.records(np.arange(len(batch))).tolist(),
                      cols.key_dst_rec.tolist(), cols.fib_dst_rec.tolist(), keys, [0] * len(keys))
        starts, ends = _run_bounds(cols, kid_s)
        ts_s, skb_s, cpu_s, hook_s = cols.ts, cols.skb, cols.cpu, cols.hook
        runs = zip(starts.tolist(), ends.tolist(), ts_s[starts].tolist(), ts_s[ends - 1].tolist(),
                   skb_s[starts].tolist(), cpu_s[starts].tolist(), hook_s[starts].tolist(),
                   kid_s[starts].tolist(), strict=True)
        for p, q, ts, ts_last, skb, cpu, hook, k in runs:
            if hook == FIB:
                jid = self._run_fib(ctx, p, skb, ts, cpu)
            elif hook == FDB:
                jid = self._place_fdb(batch[ctx.order[p]])
            else:
                jid = self._run_packet(ctx, p, q, k, skb, cpu, ts, ts_last)
            if jid is not None:
                changed.add(jid)
        if len(self._by_skb) > SKB_MAP_MAX:
            self._trim_skbs()
        return changed

    def _run_fib(self, ctx: _RunCtx, p: int, skb: int, ts: int, cpu: int) -> int | None:
        """A route lookup: to the journey its skb last showed if it routes that
        packet's destination, else it waits on its CPU for the next packet."""
        i = ctx.order[p]
        hit = self._by_skb.get(skb) if skb else None
        if hit and ts - hit[1] < SKB_WINDOW_NS:
            j = self.journeys.get(hit[0])
            if j is not None:
                li = j.last_index(ctx.batch)
                fdst = ctx.fib_dst[i]
                if li is not None:
                    relevant = fdst == ctx.key_dst[li] or fdst == ctx.fib_dst[li]
                else:
                    last = j.last()
                    relevant = fdst in (last.key.daddr, last.outer.daddr)
                if relevant:
                    j.add_run(ctx.batch, ctx.order, p, p + 1)
                    self._held += 1
                    return hit[0]
        self._pending_fib.setdefault(cpu, []).append(ctx.batch[i])
        return None

    def _run_packet(self, ctx: _RunCtx, p: int, q: int, k: int, skb: int, cpu: int,
                    ts: int, ts_last: int) -> int | None:
        """A run of one packet's events: found (or started) by its first event."""
        jid = ctx.jid_of[k]
        j = self.journeys.get(jid) if jid else None
        if j is None:
            key = ctx.keys[k]
            if key is None:
                self.unmatched += q - p
                return None
            jid = ctx.jid_of[k] = self._journey_for(key, skb, ts)
            j = self.journeys[jid]
        if self._pending_fib and cpu in self._pending_fib:
            self._claim_fib(ctx.batch[ctx.order[p]], j)
        j.add_run(ctx.batch, ctx.order, p, q)
        self._held += q - p
        self._by_skb[skb] = (jid, ts_last)
        self._last_on_cpu[cpu] = (jid, ts_last)
        return jid


def _run_bounds(cols: Columns, kid_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions of the runs: a run breaks on another key, skb or
    CPU, and route lookups and bridge learning are runs of their own."""
    n = len(cols.ts)
    skb_s, cpu_s, hook_s = cols.skb, cols.cpu, cols.hook
    special = (hook_s == FIB) | (hook_s == FDB)
    brk = np.ones(n, dtype=bool)
    brk[1:] = ((kid_s[1:] != kid_s[:-1]) | (skb_s[1:] != skb_s[:-1]) | (cpu_s[1:] != cpu_s[:-1])
               | special[1:] | special[:-1])
    starts = np.flatnonzero(brk)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = n
    return starts, ends
