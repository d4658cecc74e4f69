"""The drain thread over ring-buffer memory laid out as the kernel's (no root).

It must hand over every record once, in order, and when its queue is full it
must stop draining so the ring fills (where the kernel counts loss) instead
of dropping anything in user space.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np

from probes.drain import (
    GATHER_S,
    IN_FLIGHT_NS,
    MAX_GATHER_S,
    SWITCH_S,
    RingDrain,
    gather_s,
    in_time_order,
)
from tests.support.synth import SyntheticRing, flannel_batch
from tracer.errors import BrtraceError


def _collect(drain: RingDrain, want: int, timeout_s: float = 5.0) -> list[np.ndarray]:
    got: list[np.ndarray] = []
    n, end = 0, time.monotonic() + timeout_s
    while n < want and time.monotonic() < end:
        arr = drain.get(50)
        if arr is not None:
            got.append(arr)
            n += len(arr)
    return got


def test_every_record_once_in_order() -> None:
    syn = SyntheticRing(1 << 20)
    drain = RingDrain(syn.ring)
    try:
        events = flannel_batch(18 * 400)
        pushed = 0
        while pushed < len(events):  # the ring is smaller than the events: push as it drains
            pushed += syn.push(events[pushed:pushed + 1000])
        got = _collect(drain, len(events))
    finally:
        drain.close()
    ts = np.concatenate([a["ev"]["ts_ns"] for a in got])
    assert len(ts) == len(events)
    assert np.array_equal(ts, events["ts_ns"])


def test_full_queue_leaves_the_backlog_in_the_ring() -> None:
    syn = SyntheticRing(1 << 20)
    ring_records = syn.size // syn.dtype.itemsize
    drain = RingDrain(syn.ring, max_records=500)
    try:
        events = flannel_batch(18 * 1000)
        pushed, refused = 0, 0
        while refused < 3:  # nobody calls get(): the queue fills, then the ring
            n = syn.push(events[pushed:pushed + 500])
            pushed += n
            refused = refused + 1 if n == 0 else 0
            time.sleep(0.03 if n == 0 else 0)
        # the queue took what it may (it admits a drained batch while under its bound),
        # the ring holds the rest: the producer is refused, nothing is dropped here
        assert pushed < len(events)
        assert pushed <= 500 + 2 * ring_records
        got = _collect(drain, pushed)  # a consumer appears: everything comes out
    finally:
        drain.close()
    assert sum(len(a) for a in got) == pushed


def test_a_failing_reader_is_reported_not_silent() -> None:
    syn = SyntheticRing(1 << 20)
    drain = RingDrain(syn.ring)
    try:
        syn.ring.close()  # the memory goes away under the thread: its next look at it fails
        raised = None
        for _ in range(40):
            try:
                drain.get(50)
            except BrtraceError as exc:
                raised = exc
                break
        assert raised is not None and "ring buffer reader failed" in str(raised)
    finally:
        drain.close()


def test_in_time_order_places_extra_by_timestamp_and_keeps_every_byte() -> None:
    dt = SyntheticRing(1 << 16).dtype
    main = np.zeros(4, dtype=dt)
    main["ev"]["ts_ns"] = [10, 20, 30, 40]
    main["ev"]["skb"] = [1, 2, 3, 4]
    extra = np.zeros(3, dtype=dt)
    extra["ev"]["ts_ns"] = [5, 25, 45]
    extra["ev"]["skb"] = [7, 8, 9]
    out = in_time_order([main, extra])
    assert out.dtype == dt
    assert out["ev"]["ts_ns"].tolist() == [5, 10, 20, 25, 30, 40, 45]
    assert out["ev"]["skb"].tolist() == [7, 1, 2, 8, 3, 4, 9]


def test_spilled_records_come_out_merged_in_time_order() -> None:
    main, spill = SyntheticRing(1 << 21), SyntheticRing(1 << 16)
    events = flannel_batch(18 * 200)
    to_spill = np.zeros(len(events), dtype=bool)
    to_spill[::37] = True  # as if the main ring had refused every 37th event
    assert spill.push(events[to_spill]) == int(to_spill.sum())
    assert main.push(events[~to_spill]) == int((~to_spill).sum())
    drain = RingDrain(main.ring, spill=spill.ring)
    try:
        got = _collect(drain, len(events))
    finally:
        drain.close()
    out = np.concatenate(got)
    assert drain.spilled == int(to_spill.sum())
    assert np.array_equal(out["ev"]["ts_ns"], events["ts_ns"])
    assert np.array_equal(out["ev"]["skb"], events["skb"])


def test_a_record_in_the_watched_spill_ring_ends_the_wait() -> None:
    main, spill = SyntheticRing(1 << 16), SyntheticRing(1 << 16)
    main.ring.watch(spill.ring)
    assert spill.push(flannel_batch(18)[:1]) == 1  # only the spill ring holds something
    t = time.monotonic()
    main.ring.wait(3000)
    assert time.monotonic() - t < 1.0  # not the whole timeout on an empty main ring


def test_the_gil_switch_interval_is_the_callers_again_after_the_last_close() -> None:
    before = sys.getswitchinterval()
    assert before != SWITCH_S
    first, second = RingDrain(SyntheticRing(1 << 16).ring), RingDrain(SyntheticRing(1 << 16).ring)
    try:
        assert sys.getswitchinterval() == SWITCH_S
        first.close()
        assert sys.getswitchinterval() == SWITCH_S  # the second drain still runs
    finally:
        first.close()  # a second close changes nothing
        second.close()
    assert sys.getswitchinterval() == before


def test_the_read_mark_covers_what_was_handed_out_and_no_more() -> None:
    """An agent sends read_to_ns as how far its ring was read: a mark past a
    batch still queued would let the client release events out of order, and
    one behind what was handed out holds them back."""
    syn = SyntheticRing(1 << 20)
    drain = RingDrain(syn.ring)
    try:
        first, second = flannel_batch(100), flannel_batch(100)
        # stamped 10 ms before they are pushed: past the drain's in-flight allowance
        first["ts_ns"] = time.monotonic_ns() - 10_000_000
        syn.push(first)
        time.sleep(0.1)  # drained on its own: one batch queued
        second["ts_ns"] = time.monotonic_ns() - 10_000_000
        syn.push(second)
        time.sleep(0.1)  # a second batch queued behind it
        a = drain.get(50)
        assert a is not None and np.array_equal(a["ev"]["ts_ns"], first["ts_ns"])
        assert first["ts_ns"][0] < drain.read_to_ns < second["ts_ns"][0]
        b = drain.get(50)
        assert b is not None and np.array_equal(b["ev"]["ts_ns"], second["ts_ns"])
        assert drain.read_to_ns > second["ts_ns"][0]
        before = time.monotonic_ns()
        assert drain.get(0) is None
        assert drain.read_to_ns >= before - IN_FLIGHT_NS  # an idle, empty ring: up to now
    finally:
        drain.close()


def _trickle(syn: SyntheticRing, drain: RingDrain, per_ms: int, seconds: float) -> list[np.ndarray]:
    """``per_ms`` records every millisecond for ``seconds`` (a steady stream, pushed
    by a thread), collected here as the drain hands them over."""
    events = flannel_batch(int(per_ms * 1000 * seconds))
    pushed = [0]

    def push() -> None:
        t0 = time.monotonic()
        while pushed[0] < len(events) and time.monotonic() - t0 < seconds + 2:
            if time.monotonic() >= t0 + pushed[0] / per_ms / 1000:
                pushed[0] += syn.push(events[pushed[0]:pushed[0] + per_ms])
            time.sleep(0.0002)

    pusher = threading.Thread(target=push)
    pusher.start()
    got: list[np.ndarray] = []
    while pusher.is_alive():
        arr = drain.get(50)
        if arr is not None:
            got.append(arr)
    pusher.join()
    return got + _collect(drain, pushed[0] - sum(len(a) for a in got), 2.0)


def test_a_steady_stream_gathers_larger_batches() -> None:
    """16 records a millisecond (ping -i 0.002's rate): at 2 ms per gather that was
    ~500 batches a second of ~33; the drain now waits for more (MAX_GATHER_S)."""
    syn = SyntheticRing(4 << 20)
    drain = RingDrain(syn.ring)
    try:
        got = _trickle(syn, drain, per_ms=16, seconds=1.0)
    finally:
        drain.close()
    sizes = [len(a) for a in got]
    assert sum(sizes) >= 16_000
    # 1 s of stream: at most ~1/MAX_GATHER_S batches, with a margin for the first ones
    assert len(sizes) <= 1.5 / MAX_GATHER_S, sizes
    assert np.median(sizes) >= 16 * MAX_GATHER_S * 1000 * 0.6, sizes


def test_the_gather_rule() -> None:
    """A stream's small batches wait longer; a batch after a pause and a large one do not."""
    ms = 1_000_000
    assert gather_s(1, 500 * ms) == GATHER_S  # a sparse packet's first hop: the usual 2 ms
    assert gather_s(33, 2 * ms) == MAX_GATHER_S  # ping -i 0.002's rate: wait for ~256
    assert GATHER_S < gather_s(200, 4 * ms) < MAX_GATHER_S  # 50k/s: 256 in ~5 ms
    assert gather_s(3000, 2 * ms) == GATHER_S  # a flood: as before, the ring's headroom first
    assert gather_s(0, 0) == gather_s(5, 0) == GATHER_S  # nothing read, or all at once: never raises
