"""The merged topology: every node's namespaces, nodes as top-level groups.

Each agent reports the namespaces it serves. Merged, they are one
:class:`~tracer.topology.model.Topology` the correlator names hops with, plus
which node each namespace belongs to, and the underlay links between nodes:
a VXLAN FDB entry (or a neighbour entry) on one node that points at an
address another node owns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracer.topology.model import Link, Netns, PeerRef, Topology

RENAMED_BASE = 0xFFFFF000  # inodes given to a second node's colliding namespaces


@dataclass(frozen=True, slots=True)
class UnderlayLink:
    """Node ``a`` reaches node ``b`` at ``address`` (found on ``via``)."""

    a: str
    b: str
    address: str
    via: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Cluster:
    """Every node's namespaces as one topology, and who owns what."""

    topology: Topology
    node_of: Mapping[int, str]  # netns inode (after renames) -> node
    remap: Mapping[str, Mapping[int, int]]  # node -> {its inode: inode in the merge}
    nodes: tuple[str, ...] = ()
    underlay: tuple[UnderlayLink, ...] = ()
    addresses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def node_owning(self, addr: str) -> str | None:
        ns = self.topology.netns_owning(addr)
        return self.node_of.get(ns.inode) if ns is not None else None

    def find(self, what: str) -> tuple[str, Netns] | None:
        """``NODE:WHAT`` or a bare ``WHAT`` that only one node has."""
        node, _, name = what.rpartition(":")
        hits = []
        for ns in self.topology.namespaces:
            owner = self.node_of.get(ns.inode, "")
            if node and owner != node:
                continue
            if name in (ns.name, ns.label, str(ns.inode)):
                hits.append((owner, ns))
        if len(hits) > 1 and not node:
            raise ValueError(f"{name!r} is on more than one node "
                             f"({', '.join(sorted(h[0] for h in hits))}): say NODE:{name}")
        return hits[0] if hits else None

    def to_dict(self) -> dict[str, Any]:
        """Nodes as top-level groups, each with its namespaces (``brtrace topo --json``)."""
        groups = {n: [dataclasses.asdict(ns) for ns in self.topology.namespaces
                      if self.node_of.get(ns.inode) == n]
                  for n in self.nodes}
        return {"nodes": [{"node": n, "addresses": list(self.addresses.get(n, ())),
                           "namespaces": groups[n]} for n in self.nodes],
                "underlay": [u.to_dict() for u in self.underlay]}


def merge_topologies(tops: Mapping[str, Topology]) -> Cluster:
    """One topology from each node's; inodes another node already uses are renamed."""
    used: set[int] = set()
    namespaces: list[Netns] = []
    node_of: dict[int, str] = {}
    remap: dict[str, dict[int, int]] = {}
    for node, topo in tops.items():
        ren = remap.setdefault(node, {})
        for ns in topo.namespaces:
            if ns.inode in used:
                ren[ns.inode] = RENAMED_BASE + len(used)
        for ns in topo.namespaces:
            new = dataclasses.replace(_renamed(ns, ren), node=node)
            used.add(new.inode)
            node_of[new.inode] = node
            namespaces.append(new)
    merged = Topology(tuple(namespaces), min((t.taken_at for t in tops.values()), default=0.0),
                      ",".join(tops))
    addrs = {n: _node_addresses(merged, node_of, n) for n in tops}
    under = _underlay(merged, node_of, addrs)
    return Cluster(merged, node_of, remap, tuple(tops), under, addrs)


def cluster_of(topo: Topology) -> Cluster:
    """A recording's merged topology back as a cluster (its namespaces carry their node)."""
    nodes = tuple(dict.fromkeys(ns.node for ns in topo.namespaces if ns.node))
    node_of = {ns.inode: ns.node for ns in topo.namespaces if ns.node}
    addrs = {n: _node_addresses(topo, node_of, n) for n in nodes}
    return Cluster(topo, node_of, {}, nodes, _underlay(topo, node_of, addrs), addrs)


def _renamed(ns: Netns, ren: Mapping[int, int]) -> Netns:
    if not ren:
        return ns
    links = tuple(dataclasses.replace(ln, peer=PeerRef(ren.get(ln.peer.netns_inode, ln.peer.netns_inode),
                                                       ln.peer.ifindex))
                  if ln.peer is not None else ln for ln in ns.links)
    return dataclasses.replace(ns, inode=ren.get(ns.inode, ns.inode), links=links)


def _uplinks(ns: Netns) -> list[Link]:
    """A node's links to the underlay: the devices its VXLAN devices send through."""
    out = [ns.link(ln.vxlan.underlay_ifindex) for ln in ns.links
           if ln.vxlan is not None and ln.vxlan.underlay_ifindex]
    return [ln for ln in out if ln is not None]


def _node_addresses(topo: Topology, node_of: Mapping[int, str], node: str) -> tuple[str, ...]:
    out: list[str] = []
    for ns in topo.namespaces:
        if node_of.get(ns.inode) != node:
            continue
        for ln in _uplinks(ns):
            out += [a.address for a in ln.addresses if a.family == 4]
        for ln in ns.links:
            if ln.vxlan is not None and ln.vxlan.local:
                out.append(ln.vxlan.local)
    return tuple(dict.fromkeys(out))


def _underlay(topo: Topology, node_of: Mapping[int, str],
              addrs: Mapping[str, tuple[str, ...]]) -> tuple[UnderlayLink, ...]:
    owner = {a: n for n, aa in addrs.items() for a in aa}
    found: dict[tuple[str, str, str], UnderlayLink] = {}
    for ns in topo.namespaces:
        node = node_of.get(ns.inode, "")
        cands = [(f.dst, f"fdb on {_name(ns, f.ifindex)}") for f in ns.fdb if f.dst]
        cands += [(n.address, f"neighbour on {_name(ns, n.ifindex)}") for n in ns.neighbours]
        for addr, via in cands:
            other = owner.get(addr)
            if other and other != node and (node, other, addr) not in found:
                found[(node, other, addr)] = UnderlayLink(node, other, addr, via)
    return tuple(found.values())


def _name(ns: Netns, ifindex: int) -> str:
    ln = ns.link(ifindex)
    return f"{ns.label}/{ln.name}" if ln else ns.label


def render_cluster(cl: Cluster, local_routes: bool = False) -> str:
    """``brtrace topo --agents``: each node as a group of its namespaces, then the underlay."""
    from tracer.topology.render import inert, render

    out: list[str] = []
    for n in cl.nodes:
        sub = Topology(tuple(ns for ns in cl.topology.namespaces if cl.node_of.get(ns.inode) == n),
                       cl.topology.taken_at, n)
        addrs = ", ".join(cl.addresses.get(n, ())) or "no underlay address seen"
        body = render(sub, local_routes).rstrip("\n")
        out.append(f"node {inert(n)} ({addrs})\n" + "\n".join("  " + ln if ln else ln
                                                            for ln in body.splitlines()))
    if cl.underlay:
        out.append("underlay:\n" + "\n".join(f"  {inert(u.a)} → {inert(u.b)} at {u.address} ({inert(u.via)})"
                                              for u in cl.underlay))
    return "\n\n".join(out) + "\n"
