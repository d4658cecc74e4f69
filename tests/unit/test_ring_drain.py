"""The drain thread over ring-buffer memory laid out as the kernel's (no root).

It must hand over every record once, in order, and when its queue is full it
must stop draining so the ring fills (where the kernel counts loss) instead
of dropping anything in user space.
"""

from __future__ import annotations

import time

import numpy as np

from bench.synth import SyntheticRing, flannel_batch
from probes.drain import RingDrain
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
