"""Where an event happened, as hops name it: the namespace, the device and its role.

Its own module because the hop builder, the lookup labels and the NAT marks
all start from it, and none of them should import the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracer.memo import IdentityMemo
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
    """Where ``ev`` happened; an event without a namespace is where the previous one was.

    With a namespace the place depends on the topology and three fields only,
    so it is remembered per topology (tracer/memo.py): a trace names every
    hop of every packet at the same few places.
    """
    if ev.netns:
        return _PLACES(topo, (ev.netns, ev.ifindex, ev.ifname))
    return _place(topo, ev.netns, ev.ifindex, ev.ifname, prev)


def _place(topo: Topology, netns: int, ifindex: int, ifname: str, prev: Place | None) -> Place:
    ns = topo.netns_by_inode(netns) if netns else (prev.netns if prev else None)
    label = ns.label if ns else (f"netns:{netns}" if netns else (prev.label if prev else "?"))
    link = ns.link(ifindex) if ns and ifindex else None
    role = link_role(topo, ns, link) if ns and link else ""
    return Place(ns, link, role, label, ifname or (link.name if link else ""))


def _place_in(topo: Topology, at: tuple[int, int, str]) -> Place:
    return _place(topo, *at, None)


_PLACES: IdentityMemo[Topology, tuple[int, int, str], Place] = IdentityMemo(_place_in, objects=4)
