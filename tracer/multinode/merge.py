"""Every node's raw records on one time line, in time order, as one lazy batch.

Each node's records arrive in that node's clock, in batches, at their own
pace. The merger keeps them per node (in their own clock, so a refined offset
applies to everything still held), and releases what every live node has
already covered: a node's stream says how far it has read its ring (its
clock's "now" at the batch), and nothing older than the slowest live node's
mark can still come. A dead node stops holding the line back.

Per node, before the correlator sees them:
- times move to the client's clock (``ts - offset``);
- skb addresses get the node's tag in bits 48..55: two kernels' addresses
  are unrelated, and a journey must never follow an skb from one node to
  another (the VXLAN crossing is joined by its headers instead);
- namespace inodes another node already uses are renamed (every kernel's
  initial namespace has the same inode), as the merged topology renames them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tracer.model import Hook
from tracer.multinode.clock import ClockEstimate, Crossing
from tracer.schema.decode import Decoder, EventBatch
from tracer.schema.event import F_INNER

SKB_TAG_SHIFT = 48
# How far behind a node's read mark the merge holds the line, beyond that node's
# clock uncertainty: a record stamped just before a mark may still be being
# written into the ring then (well under a millisecond). The marks are exact
# (probes/drain.py: RingDrain.get), so this is the whole of the wait; it was
# 20 ms while a mark was the time before the agent's poll.
SLACK_NS = 2_000_000


@dataclass
class NodeFeed:
    """What one node has sent and the merger still holds."""

    name: str
    tag: int
    chunks: list[np.ndarray] = field(default_factory=list)
    read_to_ns: int | None = None  # the node's clock: its ring was read up to here
    live: bool = True
    lagging: bool = False  # named as lagging: it does not hold the others back until it speaks again
    events: int = 0


class TimeMerger:
    """Per-node raw records in; time-ordered merged lazy batches out."""

    def __init__(self, nodes: Sequence[str], slack_ns: int = SLACK_NS) -> None:
        self.feeds = {n: NodeFeed(n, i + 1) for i, n in enumerate(nodes)}
        self.clocks: dict[str, ClockEstimate] = {n: ClockEstimate() for n in nodes}
        self.remap: dict[str, dict[int, int]] = {}
        self._reasons: dict[int, str] = {}
        self._syms: dict[int, str] = {}
        self._slack = slack_ns

    def push(self, node: str, records: np.ndarray, read_to_ns: int,
             reasons: dict[int, str], syms: dict[int, str]) -> None:
        """One node's batch (its own clock), and how far that node has read its ring."""
        feed = self.feeds[node]
        feed.lagging = False
        if len(records):
            feed.chunks.append(records)
            feed.events += len(records)
        feed.read_to_ns = max(read_to_ns, feed.read_to_ns or 0)
        self._reasons.update(reasons)
        self._syms.update(syms)

    def node_gone(self, node: str) -> None:
        """The node's stream ended (agent dead, unreachable or stopped): it holds nothing back."""
        self.feeds[node].live = False

    def holding(self) -> bool:
        """Whether any node's records are still held for the watermark."""
        return any(f.chunks for f in self.feeds.values())

    def watermark(self) -> int | None:
        """Client time before which every live node has delivered everything."""
        marks = []
        for f in self.feeds.values():
            if not f.live or f.lagging:
                continue
            if f.read_to_ns is None:
                return None
            clock = self.clocks[f.name]
            marks.append(f.read_to_ns - clock.offset_ns - clock.uncertainty_ns - self._slack)
        return min(marks) if marks else 2**63 - 1

    def releasable(self) -> bool:
        """Whether ready() would release something now: the watermark has passed
        the oldest record held of some node (each node's chunks are in time order).

        Cheap enough to ask after every stream message, so a consumer takes what
        is due at once instead of waiting out its poll's whole window.
        """
        mark = self.watermark()
        if mark is None:
            return False
        for f in self.feeds.values():
            if f.chunks and len(f.chunks[0]):
                if int(f.chunks[0]["ts_ns"][0]) - self.clocks[f.name].offset_ns <= mark:
                    return True
        return False

    def ready(self) -> EventBatch | None:
        """Everything older than the watermark, merged and time ordered."""
        mark = self.watermark()
        return None if mark is None else self._release(mark)

    def flush(self) -> EventBatch | None:
        """Everything held, whatever the watermark (the end of a run)."""
        return self._release(2**63 - 1)

    def _release(self, mark: int) -> EventBatch | None:
        """Records at or before ``mark`` (client time) out, merged; later ones stay as sent."""
        parts: list[np.ndarray] = []
        for f in self.feeds.values():
            if not f.chunks:
                continue
            arr = self._aligned(f, np.concatenate(f.chunks) if len(f.chunks) > 1 else f.chunks[0])
            due = arr["ts_ns"].astype(np.int64) <= mark
            if due.all():
                f.chunks = []
                parts.append(arr)
            elif due.any():
                parts.append(arr[due])
                f.chunks = [self._unaligned(f, arr[~due])]
        if not parts:
            return None
        merged = np.concatenate(parts) if len(parts) > 1 else parts[0]
        merged = merged[np.argsort(merged["ts_ns"], kind="stable")]
        syms = dict(self._syms)
        return Decoder(dict(self._reasons), lambda a: syms.get(a, hex(a) if a else "")).decode(merged)

    def _aligned(self, f: NodeFeed, arr: np.ndarray) -> np.ndarray:
        """A copy in client time, with the node's skb tag and namespace renames."""
        out = arr.copy()
        off = self.clocks[f.name].offset_ns
        out["ts_ns"] = (out["ts_ns"].astype(np.int64) - off).astype(np.uint64)
        skb = out["skb"]
        nz = skb != 0
        skb[nz] ^= np.uint64(f.tag << SKB_TAG_SHIFT)
        for old, new in self.remap.get(f.name, {}).items():
            ns = out["netns"]
            ns[ns == old] = new
        return out

    def _unaligned(self, f: NodeFeed, arr: np.ndarray) -> np.ndarray:
        """Back to the node's own form, so a later offset applies to it as a whole."""
        out = arr.copy()
        off = self.clocks[f.name].offset_ns
        out["ts_ns"] = (out["ts_ns"].astype(np.int64) + off).astype(np.uint64)
        skb = out["skb"]
        nz = skb != 0
        skb[nz] ^= np.uint64(f.tag << SKB_TAG_SHIFT)
        for old, new in self.remap.get(f.name, {}).items():
            ns = out["netns"]
            ns[ns == new] = old
        return out

    def raw(self, node: str) -> list[np.ndarray]:
        """What the merger holds of a node, in its own clock (for causality bounds)."""
        return list(self.feeds[node].chunks)

    def crossings(self, limit: int = 0) -> list[Crossing]:
        """Encapsulated packets held that one node sent and another received (own clocks).

        ``limit``: look at about that many records per node (the newest), so a
        live trace at a flood pays a bounded price per release; 0: all.
        """
        sent: dict[tuple[int, ...], tuple[str, int]] = {}
        got: dict[tuple[int, ...], dict[str, int]] = {}
        for f in self.feeds.values():
            budget = limit
            for arr in reversed(f.chunks):
                part = arr[-budget:] if limit else arr
                _encap_ends(f.name, part, sent, got)
                budget -= len(part)
                if limit and budget <= 0:
                    break
        out = []
        for key, (tx_node, tx_ns) in sent.items():
            for rx_node, rx_ns in got.get(key, {}).items():
                if rx_node != tx_node:
                    out.append(Crossing(tx_node, tx_ns, rx_node, rx_ns))
        return out


_TX_HOOKS = (int(Hook.NET_DEV_QUEUE), int(Hook.NET_DEV_START_XMIT))
_RX_HOOKS = (int(Hook.NETIF_RECEIVE_SKB), int(Hook.NETIF_RX))


def _encap_ends(node: str, arr: np.ndarray, sent: dict[tuple[int, ...], tuple[str, int]],
                got: dict[tuple[int, ...], dict[str, int]]) -> None:
    """The last send and first receive of each encapsulated packet, by outer and inner headers.

    The outer IP id is the wire packet's own: the same on both ends, unlike
    the skb addresses of two kernels.
    """
    enc = (arr["flags"] & F_INNER) != 0
    tx = enc & np.isin(arr["hook"], _TX_HOOKS)
    rx = enc & np.isin(arr["hook"], _RX_HOOKS)
    for i in np.flatnonzero(tx | rx):
        r = arr[i]
        o, n = r["outer"], r["inner"]
        key = (int(o["saddr"]), int(o["daddr"]), int(o["ip_id"]), int(n["saddr"]),
               int(n["daddr"]), int(n["ip_id"]), int(n["sport"]), int(n["dport"]))
        ts = int(r["ts_ns"])
        if tx[i]:
            if key not in sent or sent[key][0] != node or sent[key][1] < ts:
                sent[key] = (node, ts)
        else:
            ends = got.setdefault(key, {})
            ends[node] = min(ts, ends.get(node, ts))
