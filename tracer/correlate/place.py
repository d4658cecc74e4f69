"""Where an event happened, as hops name it: the namespace, the device and its role.

Its own module because the hop builder, the lookup labels and the NAT marks
all start from it, and none of them should import the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.model import Event, Hook
from tracer.topology.model import Link, Netns, Topology, link_role

# Hooks that are a hop of their own, never merged with the device hop beside them.
SINGLE_HOOKS = {Hook.FIB_TABLE_LOOKUP, Hook.KFREE_SKB, Hook.BR_FDB_UPDATE}


@dataclass(frozen=True, slots=True)
class Place:
    netns: Netns | None
    link: Link | None
    role: str
    label: str  # netns label
    dev: str


def place_of(topo: Topology, ev: Event, prev: Place | None) -> Place:
    ns = topo.netns_by_inode(ev.netns) if ev.netns else (prev.netns if prev else None)
    label = ns.label if ns else (f"netns:{ev.netns}" if ev.netns else (prev.label if prev else "?"))
    link = ns.link(ev.ifindex) if ns and ev.ifindex else None
    role = link_role(topo, ns, link) if ns and link else ""
    return Place(ns, link, role, label, ev.ifname or (link.name if link else ""))
