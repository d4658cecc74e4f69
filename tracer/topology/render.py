"""``brtrace topo`` output: a tree a person reads, and JSON a program reads.

Pure functions of the model (no pyroute2, no root), so recorded topologies
render the same anywhere. Every name shown comes from the system and may
contain anything — escape sequences, newlines, bidi overrides — so all of
them pass through :func:`inert` before being printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from tracer.render.inert import inert
from tracer.topology.model import Link, Netns, Owner, RouteEntry, Topology, link_role

LOCAL_TABLE = 255
MAIN_TABLE = 254
NS_SYSCTLS = (("net.ipv4.ip_forward", "ip_forward"), ("net.ipv4.conf.all.rp_filter", "rp_filter"),
              ("net.bridge.bridge-nf-call-iptables", "bridge-nf-call-iptables"))


def to_json(topo: Topology, indent: int | None = 2) -> str:
    """The model as JSON (ASCII only, so it is inert too); :func:`from_json` reads it back."""
    return json.dumps(topo.to_dict(), indent=indent, ensure_ascii=True)


def from_json(text: str) -> Topology:
    return Topology.from_dict(json.loads(text))


def render(topo: Topology, local_routes: bool = False, only: frozenset[int] | None = None) -> str:
    """The topology as a tree: netns -> devices -> peers/ports/vxlan, routes, FDB.

    ``only`` (inodes) shows just those namespaces, but peers and roles are still
    read from the whole topology: a container's eth0 stays a container's end.
    """
    shown = [ns for ns in topo.namespaces if only is None or ns.inode in only]
    blocks = ["\n".join(_netns_lines(topo, ns, local_routes)) for ns in shown]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def owner_text(o: Owner) -> str:
    """``docker container 3972b7b76e2d`` / ``kubernetes pod shop/web-1``: what holds a netns."""
    ident = f" {inert(o.id[:12])}" if o.id else ""
    return f"{inert(o.runtime)} {o.kind} {inert(o.label)}{ident}"


def _netns_header(ns: Netns) -> str:
    if ns.is_init:
        what = "init netns"
    elif ns.name:
        what = f"netns {inert(ns.name)}"
    else:
        what = "unnamed netns" + (f", pid {ns.pids[0]}" if ns.pids else "")
    if ns.owners:
        what = ", ".join(owner_text(o) for o in ns.owners) + ", " + what
    facts = [f"{short}={inert(ns.sysctl(key))}" for key, short in NS_SYSCTLS if ns.sysctl(key)]
    return f"{inert(ns.label)}  ({what}, inode {ns.inode})" + ("  " + " ".join(facts) if facts else "")


def _netns_lines(topo: Topology, ns: Netns, local_routes: bool) -> list[str]:
    sections: list[tuple[str, list[str]]] = []
    for ln in sorted(ns.links, key=lambda x: x.ifindex):
        sections.append((_link_line(topo, ns, ln), list(_link_details(topo, ns, ln))))
    routes = [_route_line(ns, r) for r in ns.routes if local_routes or r.table != LOCAL_TABLE]
    if routes:
        sections.append(("routes", routes))
    neigh = [f"{inert(n.address)} dev {_dev(ns, n.ifindex)} lladdr {inert(n.lladdr) or '-'} {n.state}"
             for n in ns.neighbours]
    if neigh:
        sections.append(("neighbours", neigh))
    fdb = [_fdb_line(ns, f.ifindex, f.mac, f.master, f.dst, f.vlan, f.permanent) for f in ns.fdb]
    if fdb:
        sections.append(("fdb", fdb))
    return [_netns_header(ns)] + list(_tree(sections))


def _tree(sections: list[tuple[str, list[str]]]) -> Iterator[str]:
    for i, (head, details) in enumerate(sections):
        last = i == len(sections) - 1
        yield ("└─ " if last else "├─ ") + head
        for d in details:
            yield ("     " if last else "│    ") + d


def _dev(ns: Netns, ifindex: int) -> str:
    ln = ns.link(ifindex)
    return inert(ln.name) if ln else f"if{ifindex}"


def _link_line(topo: Topology, ns: Netns, ln: Link) -> str:
    role = link_role(topo, ns, ln)
    kind = role if role == ln.kind else f"{role} ({inert(ln.kind)})"
    parts = [inert(ln.name), kind, inert(ln.state), f"mtu {ln.mtu}"]
    if ln.network:
        parts.insert(2, f"network {inert(ln.network)}")
    if ln.mac and ln.kind != "loopback":
        parts.append(inert(ln.mac))
    if ln.promisc:
        parts.append("promisc")
    rp = ns.sysctl(f"net.ipv4.conf.{ln.name}.rp_filter")
    if rp and rp != "0":
        parts.append(f"rp_filter={inert(rp)}")
    parts += [inert(a.cidr) for a in ln.addresses]
    return "  ".join(parts)


def _link_details(topo: Topology, ns: Netns, ln: Link) -> Iterator[str]:
    if ln.master:
        bp = ln.bridge_port
        extra = (f" ({bp.stp_state}, learning {'on' if bp.learning else 'off'}, "
                 f"hairpin {'on' if bp.hairpin else 'off'})") if bp else ""
        yield f"port of {_dev(ns, ln.master)}{extra}"
    if ln.kind == "bridge":
        ports = [inert(p.name) for p in ns.links if p.master == ln.ifindex]
        yield "ports: " + (" ".join(ports) if ports else "(none)")
    if ln.kind == "veth":
        yield "peer: " + _peer_text(topo, ln)
    if ln.vxlan is not None:
        v = ln.vxlan
        dev = f", dev {_dev(ns, v.underlay_ifindex)}" if v.underlay_ifindex else ""
        group = f", group {inert(v.group)}" if v.group else ""
        yield (f"vxlan: vni {v.vni}, local {inert(v.local) or '-'}, dstport {v.port}{dev}{group}, "
               f"{'learning' if v.learning else 'nolearning'}")


def _peer_text(topo: Topology, ln: Link) -> str:
    if ln.peer is None:
        return "(unknown)"
    found = topo.netns_by_inode(ln.peer.netns_inode)
    if found is None:
        return f"(netns inode {ln.peer.netns_inode} not shown)/if{ln.peer.ifindex}"
    return f"{inert(found.label)}/{_dev(found, ln.peer.ifindex)}"


def _route_line(ns: Netns, r: RouteEntry) -> str:
    parts = [inert(r.dst) if r.type == "unicast" else f"{r.type} {inert(r.dst)}"]
    if r.gateway:
        parts.append(f"via {inert(r.gateway)}")
    if r.ifindex:
        parts.append(f"dev {_dev(ns, r.ifindex)}")
    if r.table != MAIN_TABLE:
        parts.append(f"table {r.table}")
    if r.scope != "universe":
        parts.append(f"scope {r.scope}")
    if r.prefsrc:
        parts.append(f"src {inert(r.prefsrc)}")
    if r.onlink:
        parts.append("onlink")
    return " ".join(parts)


def _fdb_line(ns: Netns, ifindex: int, mac: str, master: int, dst: str, vlan: int,
              permanent: bool) -> str:
    parts = [inert(mac), "dev", _dev(ns, ifindex)]
    if dst:
        parts.append(f"dst {inert(dst)}")
    if vlan:
        parts.append(f"vlan {vlan}")
    if master:
        parts.append(f"master {_dev(ns, master)}")
    parts.append("permanent" if permanent else "learned")
    return " ".join(parts)


__all__ = ["from_json", "inert", "owner_text", "render", "to_json"]
