"""Every agent's stream as one EventSource, for ``trace``, ``record`` and the TUI.

Batches come out merged and time ordered as soon as every live node has
covered them (the merge's watermark: each node's read mark, less its clock
uncertainty and a small slack); the clocks are tightened by the crossings
held: before each release of a sparse trace, at most every TIGHTEN_EVERY_S
at a flood. Consumers poll a few times after their
deadline (as with a live source): an idle node's mark moves with its
heartbeat, so those polls collect the tail before close stops the streams.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from tracer.filter import TraceFilter
from tracer.model import Event, SourceStats
from tracer.multinode.clock import nodes_note, tighten
from tracer.remote.session import Session
from tracer.schema.decode import EventBatch
from tracer.source import SourceInfo

HOLD_WAIT_S = 0.5  # a poll waits at most this long for held events' watermark
CROSSING_SAMPLE = 4096  # records per node looked at for clock bounds before a release
# Clock bounds are tightened at most this often while records pour in: the
# sample costs ~3 ms, and a release as soon as events are due (Session.pump)
# may come every millisecond.
TIGHTEN_EVERY_S = 0.1
# With at most this many records new since the last tightening (a sparse
# trace: a ping), the bounds are tightened before every release that follows
# new records, from those records (cheap): the crossings of the packets
# released are then among those that set the clocks. Tightened only every
# 0.1 s, a ping's first packet was released with the clocks of the time
# exchange alone, off by more than its crossing took, and its hops from the
# second node came out before the first node's (tests/kernel/test_agents.py:
# 2 runs in 11 failed so; 0 in 32 since).
FRESH_RECORDS = 256


class RemoteSource:
    def __init__(self, sess: Session, flt: TraceFilter, snaplen: int = 128, all_hooks: bool = False,
                 command: str = "") -> None:
        self.sess = sess
        sess.start(flt, snaplen, all_hooks)
        kernels = ", ".join(f"{n}: {c.info.kernel}" for n, c in sess.clients.items() if c.info)
        self._info = SourceInfo(live=True, topology=sess.cluster.topology, kernel=kernels,
                                filter=flt.describe(), command=command)
        self._events = 0
        self._batches = 0
        self._closed = False
        self._ref = next(iter(sess.clients))
        self._tightened = 0.0
        self._tightened_at = 0  # records received when the clocks were last tightened

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def exhausted(self) -> bool:
        return self._closed

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        """What the merge can release; empty only when nothing is held back either.

        A consumer that stops after a couple of empty polls (the tail of a
        trace) must not leave events behind in the merge: while some are held
        for the watermark, a poll waits for it (about a heartbeat) instead.
        """
        if self._closed:
            return []
        end = time.monotonic() + max(0, timeout_ms) / 1000.0
        hold_until = time.monotonic() + HOLD_WAIT_S
        while True:
            out = self._release(max(0.0, end - time.monotonic()))
            if out is not None:
                self._events += len(out)
                self._batches += 1
                return out
            now = time.monotonic()
            if now >= end and (not self.sess.merger.holding() or now >= hold_until):
                return []

    def _release(self, wait_s: float) -> EventBatch | None:
        m = self.sess.merger
        self.sess.pump(max(wait_s, 0.005), release=False)
        now = time.monotonic()
        received = sum(f.events for f in m.feeds.values())
        new = received - self._tightened_at
        if new and m.holding() and (new <= FRESH_RECORDS or now - self._tightened >= TIGHTEN_EVERY_S):
            # the new records and FRESH_RECORDS before them (a crossing's other end):
            # the bounds found before are in the estimates already
            sample = CROSSING_SAMPLE if new > FRESH_RECORDS else new + FRESH_RECORDS
            self._tightened, self._tightened_at = now, received
            self.sess.clocks = tighten(self.sess.clocks, m.crossings(sample), self._ref)
            m.clocks = dict(self.sess.clocks)
        return m.ready()

    def nodes_note(self) -> str:
        """Each node's clock offset ± uncertainty (and lost agents), for the TUI status bar."""
        return nodes_note(self.sess.clocks, self.sess.dead)

    def stats(self) -> SourceStats:
        return SourceStats(self._events, sum(self.sess.lost.values()), self._batches)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.sess.finish()
        self.sess.close()
