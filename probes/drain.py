"""Empties the ring buffer on its own thread, so correlating never starves it.

The consumer of a LiveSource decodes and correlates each batch; at a flood
that takes tens of milliseconds per batch, while the ring (8 MiB, ~27k
events) fills in as little. Draining is a memcpy that takes the GIL briefly,
so a thread that only drains keeps the ring near empty and the backlog moves
to a bounded queue here. When the queue is full the thread stops draining:
the ring fills and the kernel counts what it could not store, so loss stays
counted exactly (received + lost == produced), never hidden in user space.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from probes.ringbuf import RingBuffer
from tracer.errors import BrtraceError

QUEUE_RECORDS = 1 << 17  # ~40 MB of events waiting beyond the ring
GATHER_S = 0.002


class RingDrain:
    def __init__(self, ring: RingBuffer, max_records: int = QUEUE_RECORDS) -> None:
        self._ring = ring
        self._max = max_records
        self._q: deque[np.ndarray] = deque()
        self._queued = 0
        self._cv = threading.Condition()
        self._stop = False
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="brtrace-ring", daemon=True)
        self._thread.start()

    def _run(self) -> None:
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
            arr = self._ring.drain()
            if not len(arr):
                continue
            with self._cv:
                self._q.append(arr)
                self._queued += len(arr)
                self._cv.notify_all()
            # let the next batch gather: fewer, larger batches correlate faster and
            # this thread takes the GIL from the correlator at most ~500 times/s
            # (2 ms is ~3k events at 1.4M/s, a tenth of the ring)
            time.sleep(GATHER_S)

    def get(self, timeout_ms: int) -> np.ndarray | None:
        """The oldest drained batch, waiting up to timeout_ms for one.

        With timeout 0 and records still in the ring, waits for the thread to
        move them (at most 50 ms): "what is there now" includes the ring.
        Batches are handed over as drained, never joined: a join is one more
        copy of every record, which cost as much as the drain itself.
        """
        wait = timeout_ms / 1000.0 if timeout_ms > 0 else (0.05 if self._ring.pending() else 0.0)
        with self._cv:
            if not self._q and wait > 0:
                self._cv.wait_for(lambda: bool(self._q) or self._stop or self._error is not None, wait)
            if not self._q:
                if self._error is not None:
                    raise BrtraceError(f"ring buffer reader failed: {self._error}") from self._error
                return None
            arr = self._q.popleft()
            self._queued -= len(arr)
            self._cv.notify_all()
        return arr

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=1.0)
