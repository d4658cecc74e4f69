"""Every agent of a run: connected, clocks measured, topologies merged, streams merged.

Agents that cannot be reached are named and left out; the others go on. A
stream that ends mid-run (the agent died) is named too, and from then on the
node holds nothing back: its journeys end where its events end, and say so.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tracer.errors import BrtraceError
from tracer.filter import TraceFilter
from tracer.multinode.clock import ClockEstimate, best_of, tighten
from tracer.multinode.merge import TimeMerger
from tracer.multinode.nodes import Cluster, merge_topologies
from tracer.remote.client import TIMEOUT_SCALE, AgentClient, AgentError, StreamItem
from tracer.schema.decode import EventBatch

READY_TIMEOUT_S = 30.0 * TIMEOUT_SCALE  # an agent compiles its probes for each stream (~1 s, more under load)
LAG_WARN_S = 2.0


def warn(msg: str) -> None:
    print(f"brtrace: {msg}", file=sys.stderr, flush=True)


@dataclass
class Session:
    clients: dict[str, AgentClient]  # by node
    cluster: Cluster
    clocks: dict[str, ClockEstimate]
    merger: TimeMerger
    dead: dict[str, str] = field(default_factory=dict)  # node -> what happened to its agent
    unreachable: list[str] = field(default_factory=list)  # "ADDR: why"
    lost: dict[str, int] = field(default_factory=dict)  # node -> events lost this run
    _lost0: dict[str, int] = field(default_factory=dict)
    _queue: queue.Queue[StreamItem] = field(default_factory=queue.Queue)
    _live: set[str] = field(default_factory=set)
    _seen: dict[str, float] = field(default_factory=dict)
    on_warn: Callable[[str], None] = warn
    _closing: bool = False  # we cancelled the streams: their ends are not deaths

    def node_state(self) -> dict[str, dict[str, object]]:
        """Per node: clock offset and uncertainty, events lost, and whether its agent is gone."""
        out: dict[str, dict[str, object]] = {}
        for n, c in self.clocks.items():
            d: dict[str, object] = {"offset_ns": c.offset_ns, "uncertainty_ns": c.uncertainty_ns,
                                    "lost": self.lost.get(n, 0)}
            if n in self.dead:
                d["agent"] = self.dead[n]
            out[n] = d
        for u in self.unreachable:
            out.setdefault(u.split(" ", 1)[0], {"agent": u})
        return out

    def start(self, flt: TraceFilter, snaplen: int, all_hooks: bool) -> None:
        """Open every stream and wait until each node's hooks are live (or it failed)."""
        for c in self.clients.values():
            c.trace(flt, snaplen, all_hooks, self._queue)
        waiting = set(self.clients)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while waiting and time.monotonic() < deadline:
            item = self._next(0.2)
            if item is not None and (item.ready or item.ended):
                waiting.discard(item.node)
        for n in waiting:
            self._gone(n, f"its probes were not live after {READY_TIMEOUT_S:.0f} s")
        if not self._live:
            raise BrtraceError("no agent is tracing: " + "; ".join(f"{n} {w}" for n, w in self.dead.items()))

    def _next(self, timeout: float) -> StreamItem | None:
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        self._take(item)
        return item

    def _take(self, item: StreamItem) -> None:
        """One stream item into the merge: records, the first (ready) message, or a stream's end."""
        if item.ended:
            if self._closing and item.ended == "cancelled":
                self._live.discard(item.node)
                self.merger.node_gone(item.node)
            elif item.node not in self.dead:
                self._gone(item.node, item.ended)
            return
        rec = item.records
        if rec is None:
            return
        if item.ready:
            self._live.add(item.node)
            self._lost0[item.node] = rec.lost
        self._seen[item.node] = time.monotonic()
        self.lost[item.node] = rec.lost - self._lost0.get(item.node, rec.lost)
        self.merger.push(item.node, rec.arr, rec.read_to_ns, rec.reasons, rec.syms)

    def _gone(self, node: str, why: str) -> None:
        if node in self.dead:
            return
        self.dead[node] = f"gone: {why}" if why != "cancelled" else "stopped"
        self._live.discard(node)
        self.merger.node_gone(node)
        self.on_warn(f"agent {node} ({self.clients[node].addr}) {self.dead[node]}; "
                     "the other nodes go on")

    def pump(self, seconds: float, release: bool = True) -> list[EventBatch]:
        """Take what the streams sent for up to ``seconds``, or until the merge
        can release something; what the merge can release.

        Stopping once something is due (and the queue is empty) lets a live view
        show it at once: waiting out the window held every event back for it
        (up to 10 ms more at ``poll(10)``).
        """
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self._next(max(0.0, min(0.05, end - time.monotonic()))) is None:
                break
            if self._queue.empty() and self.merger.releasable():
                break
        self._check_lag()
        out = self.merger.ready() if release else None
        return [out] if out is not None else []

    def _check_lag(self) -> None:
        now = time.monotonic()
        for n in list(self._live):
            if now - self._seen.get(n, now) > LAG_WARN_S:
                self.on_warn(f"agent {n} ({self.clients[n].addr}) lags: nothing for {LAG_WARN_S:.0f} s; "
                             "the other nodes go on")
                self._seen[n] = now
                self.merger.feeds[n].lagging = True

    def finish(self, settle_s: float = 0.2, max_wait_s: float = 3.0) -> EventBatch | None:
        """Late events in, streams stopped, clocks tightened by causality, everything out.

        Late events: every live node must have read its ring past now (its
        read marks, on the client's time line, pass the watermark) and
        ``settle_s`` must have gone by, as a local trace settles; a node that
        does not get there within ``max_wait_s`` is not waited for.
        """
        now = time.monotonic_ns()
        settled = time.monotonic() + settle_s
        give_up = time.monotonic() + max_wait_s
        while time.monotonic() < give_up:
            self._next(0.02)
            mark = self.merger.watermark()
            if time.monotonic() >= settled and mark is not None and mark >= now:
                break
        self._closing = True
        for n, c in self.clients.items():
            if n in self._live:
                c.cancel()
        while True:  # what was already on the way, and each stream's end
            if self._next(0.5) is None:
                break
        ref = next(iter(self.clients))
        self.clocks = tighten(self.clocks, self.merger.crossings(), ref)
        self.merger.clocks = dict(self.clocks)
        return self.merger.flush()

    def close(self) -> None:
        for c in self.clients.values():
            c.close()


def connect(addrs: Sequence[str], make: Callable[[str], AgentClient]) -> Session:
    """Every agent reached, named, its clock measured; the unreachable ones named."""
    clients: dict[str, AgentClient] = {}
    unreachable: list[str] = []
    for a in addrs:
        c = make(a)
        try:
            c.hello()
        except AgentError as exc:
            if "schema" in str(exc):
                raise
            unreachable.append(f"{a} {exc}")
            warn(str(exc) + "; the other nodes go on")
            c.close()
            continue
        if c.node in clients:
            raise BrtraceError(f"two agents call themselves {c.node!r} ({clients[c.node].addr}, {a}): "
                               "give each a --node name")
        clients[c.node] = c
        for w in c.info.warnings if c.info else ():
            warn(f"agent {c.node} ({a}): {w}")
    if not clients:
        raise BrtraceError("no agent could be reached: " + "; ".join(unreachable))
    clocks = {n: best_of(c.clock()) for n, c in clients.items()}
    cluster = merge_topologies({n: c.topology() for n, c in clients.items()})
    merger = TimeMerger(list(clients))
    merger.clocks = dict(clocks)
    merger.remap = {n: dict(m) for n, m in cluster.remap.items()}
    return Session(clients, cluster, clocks, merger, unreachable=unreachable)
