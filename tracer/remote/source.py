"""Every agent's stream as one EventSource, for ``trace``, ``record`` and the TUI.

Batches come out merged and time ordered as soon as every live node has
covered them (the merge's watermark: about HEARTBEAT + slack behind the
kernels); the clocks are tightened by the crossings still held before each
release. Consumers poll a few times after their deadline (as with a live
source): the watermark trails the kernels by about a heartbeat (0.1 s) plus
the slack, so those polls collect the tail before close stops the streams.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracer.filter import TraceFilter
from tracer.model import Event, SourceStats
from tracer.multinode.clock import nodes_note, tighten
from tracer.remote.session import Session
from tracer.source import SourceInfo

CROSSING_SAMPLE = 4096  # records per node looked at for clock bounds before each release


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

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def exhausted(self) -> bool:
        return self._closed

    def poll(self, timeout_ms: int = 100) -> Sequence[Event]:
        if self._closed:
            return []
        m = self.sess.merger
        self.sess.pump(max(0, timeout_ms) / 1000.0, release=False)
        self.sess.clocks = tighten(self.sess.clocks, m.crossings(CROSSING_SAMPLE), self._ref)
        m.clocks = dict(self.sess.clocks)
        out = m.ready()
        if out is None:
            return []
        self._events += len(out)
        self._batches += 1
        return out

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
