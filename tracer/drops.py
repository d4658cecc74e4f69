"""Aggregate every drop on the machine by (netns, device, reason), with rates.

``brtrace drops`` feeds kfree_skb events here and prints :meth:`DropTable.snapshot`
every interval; the TUI's drops view uses the same API. Grouping is by names
a person knows (netns label from the topology snapshot, device name, the
kernel's own reason name), because a drop "storm" is only actionable once you
know *where* and *why*. Pure: no bcc, pyroute2 or textual.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from tracer.model import Event, Hook
from tracer.render.inert import inert
from tracer.topology.model import Topology

DropKey = tuple[str, str, str]  # (netns label, device, reason)


@dataclass(slots=True)
class DropGroup:
    """One (netns, device, reason): counts over the run and in the current interval."""

    netns: str
    dev: str
    reason: str
    total: int = 0
    window: int = 0  # since the last snapshot
    location: str = ""  # most recent kfree_skb location symbol


@dataclass(frozen=True, slots=True)
class DropRow:
    """What one line of the table shows."""

    netns: str
    dev: str
    reason: str
    count: int  # in the interval
    per_s: float
    total: int
    location: str

    def to_dict(self) -> dict[str, object]:
        return {"netns": self.netns, "dev": self.dev, "reason": self.reason, "count": self.count,
                "per_s": round(self.per_s, 2), "total": self.total, "location": self.location}


@dataclass(slots=True)
class DropTable:
    """Counts drops by group; ``snapshot`` closes one interval and gives its rates."""

    topo: Topology = field(default_factory=Topology)
    groups: dict[DropKey, DropGroup] = field(default_factory=dict)
    total: int = 0

    def label(self, ev: Event) -> tuple[str, str]:
        """Netns label and device name; unknown namespaces (new since discovery) by inode."""
        ns = self.topo.netns_by_inode(ev.netns) if ev.netns else None
        where = ns.label if ns else (f"netns:{ev.netns}" if ev.netns else "?")
        link = ns.link(ev.ifindex) if ns and ev.ifindex else None
        dev = ev.ifname or (link.name if link else (f"if{ev.ifindex}" if ev.ifindex else "-"))
        return where, dev

    def feed(self, events: Iterable[Event]) -> int:
        """Count the kfree_skb events of a batch; returns how many were drops."""
        n = 0
        for ev in events:
            if ev.hook != Hook.KFREE_SKB:
                continue
            where, dev = self.label(ev)
            reason = ev.reason_name or (f"reason#{ev.drop_reason}" if ev.drop_reason else "?")
            key = (where, dev, reason)
            g = self.groups.get(key)
            if g is None:
                g = self.groups[key] = DropGroup(where, dev, reason)
            g.total += 1
            g.window += 1
            g.location = ev.location_sym or g.location
            n += 1
        self.total += n
        return n

    def snapshot(self, interval_s: float) -> list[DropRow]:
        """Rows for the interval just ended (busiest first); starts the next interval."""
        rows = [DropRow(g.netns, g.dev, g.reason, g.window, g.window / max(interval_s, 1e-9),
                        g.total, g.location) for g in self.groups.values()]
        for g in self.groups.values():
            g.window = 0
        return sorted(rows, key=lambda r: (-r.count, -r.total, r.netns, r.dev, r.reason))

    def totals(self, elapsed_s: float) -> list[DropRow]:
        """Rows over the whole run, rate averaged over ``elapsed_s``."""
        rows = [DropRow(g.netns, g.dev, g.reason, g.total, g.total / max(elapsed_s, 1e-9),
                        g.total, g.location) for g in self.groups.values()]
        return sorted(rows, key=lambda r: (-r.total, r.netns, r.dev, r.reason))


def table_text(rows: list[DropRow], title: str) -> list[str]:
    """A fixed-width table; control bytes in kernel-supplied names are escaped."""
    if not rows:
        return [title, "  (no drops)"]
    w_ns = max(5, *(len(inert(r.netns)) for r in rows))
    w_dev = max(6, *(len(inert(r.dev)) for r in rows))
    w_re = max(6, *(len(inert(r.reason)) for r in rows))
    head = (f"  {'netns':<{w_ns}}  {'device':<{w_dev}}  {'reason':<{w_re}}  "
            f"{'count':>7}  {'/s':>8}  {'total':>8}  location")
    out = [title, head]
    out += [f"  {inert(r.netns):<{w_ns}}  {inert(r.dev):<{w_dev}}  {inert(r.reason):<{w_re}}  "
            f"{r.count:>7}  {r.per_s:>8.1f}  {r.total:>8}  {inert(r.location)}" for r in rows]
    return out


def rows_json(rows: list[DropRow], t_s: float, interval_s: float, final: bool = False) -> str:
    """One JSON line: the interval's groups (or the run's totals when ``final``)."""
    return json.dumps({"t_s": round(t_s, 3), "interval_s": round(interval_s, 3), "final": final,
                       "groups": [r.to_dict() for r in rows]}, ensure_ascii=False)
