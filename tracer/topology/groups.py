"""Which namespaces belong together on a picture: nodes with their pods, and the rest.

A *node* is a namespace that holds a bridge or a VXLAN device; its *pods* are
the namespaces whose veth peer is one of its bridge ports. Every drawing of
the topology (the TUI map, the SVG export) groups the same way, so the
grouping lives here, in the pure core, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracer.render.inert import inert
from tracer.topology.model import (
    ROLE_BRIDGE,
    ROLE_UPLINK,
    ROLE_VETH_HOST,
    ROLE_VXLAN,
    Link,
    Netns,
    Topology,
    link_role,
)


@dataclass(slots=True)
class Group:
    node: Netns
    pods: list[Netns] = field(default_factory=list)


def map_links(ns: Netns) -> list[Link]:
    """Devices in drawing order: bridge ports (next to their pods), bridge, VXLAN, the rest."""
    def rank(ln: Link) -> int:
        if ln.master:
            return 0
        return {"bridge": 1, "vxlan": 2}.get(ln.kind, 3)
    return sorted((ln for ln in ns.links if ln.kind != "loopback"), key=rank)


def is_node(ns: Netns) -> bool:
    return any(ln.kind in ("bridge", "vxlan") for ln in ns.links)


def group_namespaces(topo: Topology, only: set[int] | None = None) -> tuple[list[Group], list[Netns]]:
    """Nodes with their pods, and the loose namespaces; ``only`` keeps groups touching those inodes."""
    groups = [Group(ns) for ns in topo.namespaces if is_node(ns)]
    by_inode = {g.node.inode: g for g in groups}
    placed = set(by_inode)
    for ns in topo.namespaces:
        if ns.inode in placed:
            continue
        for ln in map_links(ns):
            peer = topo.peer_of(ns.inode, ln.ifindex)
            if peer and peer[0].inode in by_inode and peer[1].master:
                by_inode[peer[0].inode].pods.append(ns)
                placed.add(ns.inode)
                break
    loose = [ns for ns in topo.namespaces if ns.inode not in placed and map_links(ns)]
    if only:
        groups = [g for g in groups if {g.node.inode, *(p.inode for p in g.pods)} & only]
        loose = [ns for ns in loose if ns.inode in only]
    return groups, loose


def device_text(topo: Topology, ns: Netns, ln: Link) -> str:
    """One device row: name, what it is, its address — all inert.

    Its IPv4 address, else its first global IPv6 one (not the link-local every
    device has): an IPv6-only device is not drawn bare, while a dual-stack
    one keeps one address, so the map of two flannel nodes still fits 120
    columns (both addresses made it fall back to the tree there)."""
    role = link_role(topo, ns, ln)
    addr = next((a.cidr for a in ln.addresses if a.family == 4), "") or next(
        (a.cidr for a in ln.addresses if a.family == 6 and not a.address.startswith("fe80:")
         and a.address != "::1"), "")
    if role == ROLE_BRIDGE:
        what = "bridge"
    elif role == ROLE_VXLAN:
        what = f"vxlan {ln.vxlan.vni}" if ln.vxlan else "vxlan"
    elif role == ROLE_VETH_HOST:
        br = ns.link(ln.master)
        what = f"port of {br.name}" if br else "bridge port"
    elif role == ROLE_UPLINK:
        what = "uplink"
    else:
        what = ln.kind if ln.kind not in ("veth",) else ""
    return inert(" ".join(x for x in (ln.name, what, addr) if x))
