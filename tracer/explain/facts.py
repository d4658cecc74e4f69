"""What brtrace knows about one hop, as plain strings an explanation is written from.

The correlator names a hop by its device's role and the kernel's action; an
explanation needs more of the same facts, read from the hop's own events and
the recording's topology: what kind of namespace it is (pod, container,
plain netns, host, node), the device's kind and the bridge it is a port of,
the veth peer, what packet it is (ARP who-has / is-at, echo request / reply),
the route the lookup chose and what NAT rewrote. Nothing here guesses: a
fact brtrace does not know is left empty, and the text chosen says less.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.model import ETH_P_ARP, ICMP_ECHO, Event
from tracer.topology.model import OWNER_CONTAINER, OWNER_POD, Netns, Topology

# The sentence the correlator appends when addresses change (tracer/correlate/hops.py _nat_text).
_NAT = re.compile(r"NAT rewrote (?P<what>(?:source|destination) [^;]*?) in (?P<where>\S+)")


@dataclass(frozen=True, slots=True)
class Facts:
    """One hop's facts; empty strings for what is not known."""

    netns: str
    dev: str
    place: str = ""  # pod | container | netns | host | node: what kind of namespace
    dev_kind: str = ""  # the link's kind: veth | bridge | vxlan | physical …
    bridge: str = ""  # the bridge this device is a port of (or is)
    bridge_addr: str = ""  # an address of that bridge
    peer: str = ""  # the veth peer as netns/dev
    peer_place: str = ""
    packet: str = ""  # arp-request | arp-reply | echo-request | echo-reply | ip
    src: str = ""
    dst: str = ""
    src_mac: str = ""
    dst_mac: str = ""
    mac: str = ""  # the MAC a bridge learned (FDB learning)
    vni: str = ""
    outer_src: str = ""
    outer_dst: str = ""
    port: str = ""
    route_dst: str = ""
    route_prefix: str = ""
    route_via: str = ""
    route_out: str = ""
    route_local: bool = False
    route_onlink: bool = False
    nat_source: str = ""  # "A → B" when NAT rewrote the source here
    nat_dest: str = ""
    nat_where: str = ""
    reason: str = ""
    location: str = ""


def place_of(ns: Netns | None) -> str:
    """The namespace's kind, as its runtime says, else from what it holds."""
    if ns is None:
        return ""
    if ns.is_init:
        return "host"
    kinds = {o.kind for o in ns.owners}
    if OWNER_POD in kinds:
        return "pod"
    if OWNER_CONTAINER in kinds:
        return "container"
    links = {ln.kind for ln in ns.links}
    if "vxlan" in links or ns.node:
        return "node"
    if "bridge" in links:
        return "host"
    return "netns"


def packet_of(events: tuple[Event, ...]) -> str:
    """What packet the hop's events carry: ARP (by opcode), echo request/reply, other IP."""
    for e in events:
        if e.route is not None or not e.key.present:
            continue
        arp = e.ethertype == ETH_P_ARP or (e.inner is not None and e.key.proto == 0)
        if arp:
            return {1: "arp-request", 2: "arp-reply"}.get(e.key.sport, "arp")
        echo = e.key.echo_type  # ICMPv6's echo as ICMP's (128/129 read as 8/0)
        if echo is not None:
            return "echo-request" if echo == ICMP_ECHO else "echo-reply"
        return "ip"
    return ""


def hop_facts(hop: Hop, topo: Topology | None, packet: str = "") -> Facts:
    """Every fact about ``hop`` the events and ``topo`` give; ``packet`` if the caller knows it."""
    ns = topo.netns_by_inode(hop.netns_inode) if topo and hop.netns_inode else None
    link = ns.link(hop.ifindex) if ns and hop.ifindex else None
    f: dict[str, object] = {"netns": hop.netns, "dev": hop.dev, "place": place_of(ns),
                            "packet": packet_of(hop.events) or packet,
                            "reason": hop.reason, "location": hop.location}
    if link is not None:
        f["dev_kind"] = link.kind
        if link.vxlan is not None:
            f["vni"], f["port"] = str(link.vxlan.vni), str(link.vxlan.port)
        br = link if link.kind == "bridge" else (ns.link(link.master) if ns and link.master else None)
        if br is not None:
            f["bridge"] = br.name
            f["bridge_addr"] = br.addresses[0].address if br.addresses else ""
        peer = topo.peer_of(ns.inode, link.ifindex) if topo and ns else None
        if peer is not None:
            f["peer"], f["peer_place"] = f"{peer[0].label}/{peer[1].name}", place_of(peer[0])
    for e in hop.events:
        _event_facts(f, e, ns)
    m = _NAT.search(hop.action)
    if m:
        f["nat_where"] = m["where"]
        for part in m["what"].split(", "):
            kind, _, change = part.partition(" ")
            f["nat_source" if kind == "source" else "nat_dest"] = change
    return Facts(**f)  # type: ignore[arg-type]


def _event_facts(f: dict[str, object], e: Event, ns: Netns | None) -> None:
    if e.route is not None:
        if "route_dst" not in f:  # the hop's first lookup, as its action says
            _route_facts(f, e, ns)
        return
    if e.fdb_mac:
        f["mac"] = e.fdb_mac
    if not e.key.present or "src" in f:
        return
    f["src"], f["dst"] = e.key.src, e.key.dst
    f["src_mac"], f["dst_mac"] = e.src_mac, e.dst_mac
    if e.inner is not None and e.vni:
        f["vni"], f["outer_src"], f["outer_dst"] = str(e.vni), e.outer.src, e.outer.dst
        f["port"] = str(e.outer.dport)


def _on_subnet(ns: Netns | None, addr: str) -> bool:
    if ns is None:
        return False
    ip = ipaddress.ip_address(addr)
    return any(ip in net for ln in ns.links for a in ln.addresses
               if (net := ipaddress.ip_network(a.cidr, strict=False)).version == ip.version
               and net.prefixlen < net.max_prefixlen)


def _route_facts(f: dict[str, object], e: Event, ns: Netns | None) -> None:
    r = e.route
    assert r is not None
    dst = e.outer.dst  # either family: an IPv6 lookup's flow is in saddr6/daddr6
    f["route_dst"] = dst
    if r.err:
        return
    if ns is not None and ns.owns_address(dst):
        f["route_local"] = True
        return
    entry = ns.route_for(dst, r.table) if ns else None
    out = ns.link(r.nh_ifindex) if ns else None
    f["route_prefix"] = entry.dst if entry else dst
    # onlink matters when the gateway is on none of the namespace's subnets (flannel's case)
    via = r.via or (entry.gateway if e.outer.v6 and entry else "")  # schema < 6: no IPv6 gateway
    f["route_onlink"] = bool(entry and entry.onlink and via and not _on_subnet(ns, via))
    f["route_via"] = via
    f["route_out"] = out.name if out else (e.ifname or f"if{r.nh_ifindex}")
