"""Empties the ring buffer on its own thread, so correlating never starves it.

The consumer of a LiveSource decodes and correlates each batch; at a flood
that takes tens of milliseconds per batch, while the ring (8 MiB, ~27k
events) fills in as little. Draining is a memcpy that takes the GIL briefly,
so a thread that only drains keeps the ring near empty and the backlog moves
to a bounded queue here. When the queue is full the thread stops draining:
the ring fills and the kernel counts what it could not store, so loss stays
counted exactly (received + lost == produced), never hidden in user space.

The probes put an event the main ring refuses into a small spill ring
(brtrace.c: reserve()), and their compact records into per-CPU rings
(probes/cpuring.py): a packet's later hooks while its bytes stay the same as
hop records (emit_hop), IPv4 route lookups as route records (emit_route) and
packets it leaves to user space to parse as raw records (emit_raw). The
per-CPU rings wake no one: a drain finds them when another ring wakes it or
its wait times out (20 ms). This thread only copies the five kinds out; the
consumer's get() makes hop, route and raw records whole events
(tracer/schema/hops.py, routes.py, raw.py) and puts each batch in time order,
holding back what a later batch could still precede (_in_order), so a consumer
sees one time-ordered stream.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from probes.ringbuf import RecordRing, RingBuffer
from tracer.errors import BrtraceError
from tracer.schema.hops import HopExpander, byte_rows
from tracer.schema.raw import raw_events
from tracer.schema.routes import route_events

QUEUE_RECORDS = 1 << 17  # ~40 MB of events waiting beyond the ring
GATHER_S = 0.002
# A steady stream of few events a drain gathers for longer (gather_s):
MAX_GATHER_S = 0.008
TARGET_BATCH = 256  # records a gather aims at: past it, a batch's fixed cost is a small share
STREAM_GAP_NS = 20_000_000  # a batch this soon after the last one continues a stream
SWITCH_S = 0.001  # the GIL switch interval while a drain runs (see _favour_this_thread)
# How long after its timestamp a record may still be unwritten (the probes
# stamp it before they reserve and fill it: microseconds, interrupts included).
# A batch hands out what was stamped this long before its drain began; the
# rest waits for the next batch (RingDrain._in_order).
IN_FLIGHT_NS = 500_000
HELD_WAIT_S = 0.05  # how long get(0) waits for the thread to move what the rings hold
HELD_NEXT_S = 0.03  # how long what waits waits for the next batch (the drain's cycle: <= 28 ms)


def in_time_order(parts: list[np.ndarray]) -> np.ndarray:
    """The parts (records of one dtype) as one batch in time order: a stable
    sort, so of two records stamped the same nanosecond the earlier part's
    comes first, and none when the parts already are in order.

    Each CPU's records are then in the order its probes ran, whichever ring
    took them. Inserting ``extra`` where a search of main's timestamps put
    it did not ensure that: main is in the order the ring was reserved in,
    which across CPUs is not quite time order, and a search of an unsorted
    array put a route lookup after the send it came before. Rows are moved as
    bytes: numpy copies a structured array field by field, 10x slower (17 ms
    for a full ring).
    """
    dtype = parts[0].dtype
    parts = [p for p in parts if len(p)]
    if len(parts) == 1 and _ascending(parts[0]["ev"]["ts_ns"]):
        return parts[0]
    if not parts:
        return np.empty(0, dtype=dtype)
    ts = np.concatenate([p["ev"]["ts_ns"] for p in parts])
    if _ascending(ts):
        return np.concatenate(parts)
    # each part's rows straight to where they belong: one copy of the batch, not two
    order = np.argsort(ts, kind="stable")
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    out = np.empty((len(ts), dtype.itemsize), dtype=np.uint8)
    at = 0
    for p in parts:
        out[where[at:at + len(p)]] = byte_rows(p)
        at += len(p)
    return out.view(dtype).reshape(-1)


def _ascending(ts: np.ndarray) -> bool:
    return bool(len(ts) < 2 or (ts[1:] >= ts[:-1]).all())


def _favour_this_thread() -> None:
    """Let the drain run as soon as it wakes, so the ring never fills behind it.

    At a flood on 2 CPUs this thread shares the machine with the sender and the
    correlator; a 33 ms wait for the CPU or the GIL filled the 8 MiB ring
    (13,500 events lost in one of three floods). It runs ~2 % of the time, so
    favouring it costs the others little: a higher scheduling priority (root
    only; harmless to skip) and a 1 ms GIL switch interval instead of 5 ms
    (_SwitchInterval, process-wide, so held only while some drain runs).
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), -10)
    except OSError:  # not root: the default priority still works, with more risk of loss
        pass


class _SwitchInterval:
    """The GIL switch interval is process-wide: shortened while any drain runs,
    the caller's own value back once the last one closes."""

    _lock = threading.Lock()
    _users = 0
    _saved = 0.0

    @classmethod
    def hold(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._saved = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_S)
            cls._users += 1

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0:
                sys.setswitchinterval(cls._saved)


def gather_s(n: int, since_ns: int) -> float:
    """How long to let the next batch gather after one of ``n`` records, read
    ``since_ns`` after the batch before it.

    Fewer, larger batches correlate faster, and the drain thread then takes
    the GIL from the correlator less often. 2 ms at least: ~3k events at
    1.4M/s, a tenth of the ring. A steady stream of few events waits longer,
    up to MAX_GATHER_S, for TARGET_BATCH records: a batch costs the correlator
    ~110 µs whatever its size (its numpy calls; 155k events fed in batches of
    34 took 0.70 s of CPU, in batches of 170 0.31 s), and beside ping -i 0.002
    (16k events/s) 2 ms made 500 batches of ~33 a second. Gathering 10 ms
    there took the brtrace process from 3.39 to 2.65 s of CPU over 8 s
    (medians of 5 interleaved runs, the tree otherwise the same); with this
    rule batches are ~126 records. The first batch after a pause
    (STREAM_GAP_NS) waits only 2 ms, as before, so a sparse packet's hops are
    not held back: only a stream's events wait up to MAX_GATHER_S in the ring.
    """
    if n <= 0 or since_ns > STREAM_GAP_NS or n >= TARGET_BATCH:
        return GATHER_S
    rate = n * 1e9 / max(since_ns, 1)  # records per second over the last interval
    return min(MAX_GATHER_S, max(GATHER_S, TARGET_BATCH / rate))


@dataclass(frozen=True)
class _Drained:
    """One drain of the rings: full records (main, spill), hop, route and raw
    records; ``real=False``: none happened (get() only retries what waits)."""

    full: np.ndarray
    spill: np.ndarray | None
    hops: np.ndarray | None
    routes: np.ndarray | None
    raws: np.ndarray | None = None
    real: bool = True

    def records(self) -> int:
        return len(self.full) + sum(len(a) for a in (self.spill, self.hops, self.routes, self.raws)
                                    if a is not None)


class RingDrain:
    def __init__(self, ring: RingBuffer, max_records: int = QUEUE_RECORDS,
                 spill: RecordRing | None = None, hops: RecordRing | None = None,
                 routes: RecordRing | None = None, raws: RecordRing | None = None) -> None:
        self._ring = ring
        self._spill = spill
        self._hops = hops
        self._routes = routes
        self._raws = raws
        self.hops = HopExpander()
        self._held: np.ndarray | None = None  # events behind a hop still waiting for its base
        for other in (spill, hops, routes, raws):
            if other is not None:
                ring.watch(other)
        self.spilled = 0  # records that came through the spill ring
        self.parsed = 0  # raw records parsed here (tracer/schema/raw.py)
        self._max = max_records
        # each batch with its read mark: the clock just before the drain that took it
        self._q: deque[tuple[_Drained, int]] = deque()
        self._queued = 0
        self._drained_to = time.monotonic_ns()  # the mark of the last drain done (empty or not)
        self._batch_ns = 0  # the mark of the last drain that read something
        self.read_to_ns = self._drained_to  # see read_to_ns in get()
        self._draining = False  # between reading the ring and queueing what it read
        self._cv = threading.Condition()
        self._stop = False
        self._error: Exception | None = None
        self._closed = False
        _SwitchInterval.hold()
        self._thread = threading.Thread(target=self._run, name="brtrace-ring", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        _favour_this_thread()
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 -- re-raised to the consumer by get(), not lost with the thread
            with self._cv:
                self._error = exc
                self._cv.notify_all()

    def _loop(self) -> None:
        while not self._stop:
            with self._cv:  # a full queue: leave the backlog in the ring, where loss is counted
                if self._cv.wait_for(lambda: self._queued < self._max or self._stop, 0.05) is False:
                    continue
            self._ring.wait(20)
            with self._cv:
                self._draining = True
            mark = time.monotonic_ns()
            got = self._drain_both()
            n = got.records()
            with self._cv:
                self._draining = False
                self._drained_to = mark
                if not n:
                    continue
                self._q.append((got, mark))
                self._queued += n
                self._cv.notify_all()
            since, self._batch_ns = mark - self._batch_ns, mark
            time.sleep(gather_s(n, since))

    def _drain_both(self) -> _Drained:
        """What each ring holds: hops and routes are made whole by get(), on
        the consumer's thread (numpy lets go of the GIL in its loops, and this
        thread must not wait to get it back: see RingBuffer.drain)."""
        # hops first: a hop is written after its base record, so every base of
        # a hop read here is in the rings read after it (or was read before)
        hops = self._hops.drain() if self._hops is not None else None
        # spill next: what it holds was refused by the main ring before the
        # main ring's drain point, so the merged batch has no later gap to fill
        extra = self._spill.drain() if self._spill is not None else None
        arr = self._ring.drain()
        if extra is not None and len(extra):
            self.spilled += len(extra)
        raws = self._raws.drain() if self._raws is not None else None  # hop bases too
        routes = self._routes.drain() if self._routes is not None else None
        return _Drained(arr, extra, hops, routes, raws)

    def _whole(self, got: _Drained) -> list[np.ndarray]:
        """The batch's parts, its route, raw and hop records made whole events (not yet in order)."""
        full = got.full
        if got.spill is not None and len(got.spill):  # rare: a full main ring, or its lock gave up
            full = in_time_order([full, got.spill])
        if got.raws is not None and len(got.raws):  # parsed here; bases of hops like the rest
            raws = raw_events(got.raws, full.dtype)
            self.parsed += len(raws)
            full = np.concatenate([full, raws]) if len(full) else raws
        parts = [full]
        if got.routes is not None and len(got.routes):
            parts.append(route_events(got.routes, full.dtype))
        if got.hops is not None:
            parts.append(self.hops.expand(full, got.hops, drained=got.real))
        return parts

    def _in_order(self, parts: list[np.ndarray], mark: int) -> tuple[np.ndarray, int]:
        """What of ``arr`` (and of what waited) can go out without a later batch
        bringing something older, and the time before which all of it has gone.

        The rings are read one after another, so a record stamped just before
        a drain began may be written after its ring was read but before the
        next ring's: it comes a batch later than a newer one of its CPU from
        that next ring. So a batch hands out what was stamped IN_FLIGHT_NS
        before its drain began (``mark``) and before any hop that still waits
        for its base; the rest waits, and a consumer sees each CPU's events in
        the order they happened."""
        if self._held is not None:
            parts.append(self._held)
            self._held = None
        arr = in_time_order(parts)
        cut = mark - IN_FLIGHT_NS
        first = self.hops.waiting_from()
        if first is not None:
            cut = min(cut, first)
        k = int(np.searchsorted(arr["ev"]["ts_ns"], cut))
        if k < len(arr):
            self._held, arr = arr[k:], arr[:k]  # views of one buffer: no copy
        return arr, cut

    def _waiting(self) -> bool:
        """Whether events wait (stamped too late for their batch, or behind a hop
        waiting for its base): get() then goes on without a new batch."""
        return self._held is not None or self.hops.pending > 0

    def _nothing(self) -> _Drained:
        hops = np.empty(0, dtype=self._hops.dtype) if self._hops is not None else None
        return _Drained(np.empty(0, dtype=self._ring.dtype), None, hops, None, real=False)

    def _pending(self) -> bool:
        return self._ring.pending() or any(r is not None and r.pending()
                                           for r in (self._spill, self._hops, self._routes, self._raws))

    def get(self, timeout_ms: int) -> np.ndarray | None:
        """The oldest drained batch, waiting up to timeout_ms for one.

        With timeout 0 and records still in the rings, or events that wait
        (_in_order), waits for them (at most HELD_WAIT_S): "what is there now"
        includes the rings.
        Batches are handed over as drained, never joined: a join is one more
        copy of every record, which cost as much as the drain itself.

        Afterwards ``read_to_ns`` (CLOCK_MONOTONIC, the probes' clock) says how
        far the rings were read: every event stamped before it has been handed
        out (an event stamped less than IN_FLIGHT_NS before a drain began, or
        after a hop still waiting for its base, waits: _in_order). An
        agent sends it as its stream's read mark, and a cluster trace releases
        events once every node's mark has passed them: a mark taken before the
        poll, as it once was, held each event back one batch more, and claimed
        batches still queued behind the one returned.
        """
        end = time.monotonic() + (timeout_ms / 1000.0 if timeout_ms > 0 else HELD_WAIT_S)
        while True:  # what only waits (in flight, or for a hop's base) is worth the wait
            out = self._take(timeout_ms <= 0, max(end - time.monotonic(), 0.0))
            if out is None or len(out) or self._held is None or time.monotonic() >= end:
                return out

    def _take(self, now_only: bool, left_s: float) -> np.ndarray | None:
        """get() once: a batch, or what waited, or None with nothing to hand out."""
        wait = left_s if not now_only else \
            (min(left_s, HELD_WAIT_S) if self._pending() or self.hops.pending else 0.0)
        if self._held is not None:  # what waits goes out with the next batch, or alone once due
            due = max(int(self._held["ev"]["ts_ns"].min()) + IN_FLIGHT_NS - time.monotonic_ns(), 0) / 1e9
            # not as soon as due while a stream runs: alone it would be a tiny batch, and a
            # batch costs the correlator ~110 us whatever its size (see gather_s)
            wait = min(max(wait, due) if now_only else min(wait, max(due, HELD_NEXT_S)), left_s)
        with self._cv:
            if not self._q and wait > 0:
                self._cv.wait_for(lambda: bool(self._q) or self._stop or self._error is not None, wait)
            if not self._q:
                if self._error is not None:
                    raise BrtraceError(f"ring buffer reader failed: {self._error}") from self._error
                mark = self._idle_mark()
                if not self._waiting():
                    self.read_to_ns = mark - IN_FLIGHT_NS
                    return None
                got = self._nothing()  # no new batch: what waits may still go out, or give up
            else:
                got, mark = self._q.popleft()
                self._queued -= got.records()
                self._cv.notify_all()
        out, self.read_to_ns = self._in_order(self._whole(got), mark)
        return out

    def _idle_mark(self) -> int:
        """The read mark with nothing queued (the caller holds the lock): now, when
        no drain is under way and both rings are empty, else the last drain's.
        An idle ring's mark then moves with each poll, not only every 20 ms."""
        if not self._draining:
            now = time.monotonic_ns()
            if not self._pending():
                self._drained_to = max(self._drained_to, now)
        return self._drained_to

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=1.0)
        if not self._closed:
            self._closed = True
            _SwitchInterval.release()
