"""Hop records made whole events again: each takes its base record's row.

The probes write a full record the first time an skb passes a hook on a CPU
and, while its bytes stay the same, a hop record (``BRT_HOP``: time, hook,
device, length, drop reason) at its later hooks (brtrace.c: emit_hop). A hop
names its base by the base's timestamp and CPU: the last full record of a
packet on that CPU when the hop was written.

The drain reads the hop ring first, then the others. A hop read in drain k
was written after drain k-1 read the hop ring, and its base before it, so
the base is in drain k's records, in drain k-1's (written between drain
k-1's two reads), or, older still, it was its CPU's last base when drain k-2
ended (a later one would have replaced it before the hop). Those are the
candidates kept here. A base still behind a record being written when its
ring was read comes with a later drain, and its hops wait for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from tracer.schema.event import F_FDB, F_ROUTE, HOP_FIELDS

# A hop's base is a packet's record, never a route lookup or an FDB update.
_NOT_BASE = F_ROUTE | F_FDB
# How long a hop waits for its base before it counts as lost. A base always
# comes (the probes write no hop of a record that was refused or lost): a
# record being written holds its ring's reader back for microseconds, and a
# full queue holds the drain back while the consumer catches up. This only
# bounds what a teardown mid-batch could leave waiting.
MAX_WAIT_NS = 2_000_000_000


def byte_rows(a: np.ndarray) -> np.ndarray:
    """``a``'s records as rows of bytes: numpy copies a structured array field by
    field, ~10x slower than moving its bytes (a view when ``a`` is contiguous)."""
    return np.ascontiguousarray(a).view(np.uint8).reshape(len(a), a.dtype.itemsize)


class _Bases:
    """Records searchable by (timestamp, CPU)."""

    def __init__(self, records: np.ndarray) -> None:
        self.records = records
        ts = records["ev"]["ts_ns"]
        self._order = np.argsort(ts, kind="stable")
        self._ts = ts[self._order]

    def find(self, ts: np.ndarray, cpu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, row index) per (ts, cpu); a timestamp two CPUs share is looked up one by one."""
        if not len(self._ts):
            return np.zeros(len(ts), dtype=bool), np.zeros(len(ts), dtype=np.intp)
        at = np.minimum(np.searchsorted(self._ts, ts), len(self._ts) - 1)
        idx = self._order[at]
        ev = self.records["ev"]
        found = (self._ts[at] == ts) & (ev["cpu"][idx] == cpu)
        for i in np.flatnonzero(~found & (self._ts[at] == ts)):
            hit = np.flatnonzero((ev["ts_ns"] == ts[i]) & (ev["cpu"] == cpu[i]))
            if len(hit):
                found[i], idx[i] = True, hit[0]
        return found, idx


class HopExpander:
    """Turns (records, hops) into records, keeping the bases later hops may name."""

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        """``clock``: monotonic nanoseconds (injected by tests), for MAX_WAIT_NS."""
        self._clock = clock or time.monotonic_ns
        self._older: dict[int, np.ndarray] = {}  # cpu -> its last base before the previous drain
        self._prev: _Bases | None = None  # the previous drain's records
        self._pending: np.ndarray | None = None  # hops whose base has not been read yet
        self._since = np.empty(0, dtype=np.int64)  # when each of them began to wait (clock)
        self.expanded = 0  # hops made into events
        self.orphans = 0  # hops whose base never came: counted as lost events

    @property
    def pending(self) -> int:
        return 0 if self._pending is None else len(self._pending)

    def waiting_from(self) -> int | None:
        """The earliest timestamp of a hop still waiting for its base: nothing
        stamped at or after it may be handed out before it (RingDrain)."""
        if self._pending is None or not len(self._pending):
            return None
        return int(self._pending["ev"]["ts_ns"].min())

    def expand(self, records: np.ndarray, hops: np.ndarray, drained: bool = True) -> np.ndarray:
        """Each hop as a record of ``records``' dtype (base row, hop fields), in hop order.

        ``records``: this drain's full records; ``hops``: this drain's hop
        ring records. Hops without a base yet are kept for the next call.
        ``drained=False``: no drain happened (the caller only retries what
        waits): the drains the candidates are kept from do not move on, or a
        base kept as the previous drain's would be lost before its hop came."""
        since = np.full(len(hops), self._clock(), dtype=np.int64)
        if self._pending is not None:
            hops = np.concatenate([self._pending, hops])
            since = np.concatenate([self._since, since])
            self._pending = None
        cur = _Bases(records)
        out = self._resolve(cur, hops, since) if len(hops) else np.empty(0, dtype=records.dtype)
        if drained:
            if self._prev is not None:
                self._remember(self._prev.records)
            self._prev = cur
        return out

    def _resolve(self, cur: _Bases, hops: np.ndarray, since: np.ndarray) -> np.ndarray:
        hv = hops["ev"]
        older = [r for r in self._older.values() if r.dtype == cur.records.dtype]
        pools = [cur] + ([self._prev] if self._prev is not None else []) + \
            ([_Bases(np.concatenate(older))] if older else [])
        rows = np.empty(len(hops), dtype=cur.records.dtype)
        row_bytes = byte_rows(rows)
        done = np.zeros(len(hops), dtype=bool)
        for pool in pools:
            if done.all() or not len(pool.records) or pool.records.dtype != rows.dtype:
                continue
            todo = np.flatnonzero(~done)
            found, idx = pool.find(hv["base_ts"][todo], hv["cpu"][todo])
            row_bytes[todo[found]] = byte_rows(pool.records)[idx[found]]
            done[todo[found]] = True
        self._hold(hops[~done], since[~done])
        out = rows if done.all() else byte_rows(rows)[done].view(rows.dtype).reshape(-1)
        for name in HOP_FIELDS:
            out["ev"][name] = hv[name][done]
        self.expanded += len(out)
        return out

    def _hold(self, missing: np.ndarray, since: np.ndarray) -> None:
        if not len(missing):
            return
        stale = self._clock() - since > MAX_WAIT_NS  # its base never came: nothing to rebuild it from
        self.orphans += int(stale.sum())
        if not stale.all():
            self._pending, self._since = missing[~stale], since[~stale]

    def _remember(self, records: np.ndarray) -> None:
        """Each CPU's last base in ``records`` (a drain's, in order), for hops two drains on."""
        if not len(records):
            return
        ev = records["ev"]
        base = np.flatnonzero((ev["flags"] & _NOT_BASE) == 0)
        cpus = ev["cpu"][base]
        for cpu in np.unique(cpus):
            mine = base[cpus == cpu]
            last = mine[np.argmax(ev["ts_ns"][mine])]
            self._older[int(cpu)] = records[last:last + 1].copy()
