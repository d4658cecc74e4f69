"""Rules at the IP layer: forwarding turned off, or no route to the destination."""

from __future__ import annotations

import ipaddress

from tracer.diagnose.context import Context, Diagnosis, dst_of, in_netns, subnet_of
from tracer.topology.model import Netns, Topology


def rule_routing(ctx: Context) -> Diagnosis | None:
    """ip_error: the input route lookup failed — forwarding off, or no route to the destination."""
    routing = ctx.location.startswith("ip_error") or ctx.reason in (
        "IP_INNOROUTES", "IP_INADDRERRORS", "IP_OUTNOROUTES")
    if not routing or ctx.ns is None:
        return None
    ns, dst = ctx.ns, dst_of(ctx)
    fwd = ns.sysctl("net.ipv4.ip_forward")
    route = ns.route_for(dst) if dst else None
    facts = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} in {ns.label}",
             f"net.ipv4.ip_forward = {fwd or '?'} in {ns.label}",
             f"route to {dst} in {ns.label}: " + (f"{route.dst}" if route else "none")]
    if fwd == "0" and not ns.owns_address(dst):
        return Diagnosis("ip-forward-off", f"IP forwarding is off in {ns.label} "
                         f"(net.ipv4.ip_forward=0): it received a packet for {dst}, which is not "
                         "its own address, and may not route it on",
                         in_netns(ns, "sysctl -w net.ipv4.ip_forward=1"), tuple(facts), ctx.hop)
    if route is None:
        return Diagnosis("no-route", f"{ns.label} has no route to {dst}",
                         _route_fix(ctx.topo, ns, dst), tuple(facts), ctx.hop)
    return None


def _route_fix(topo: Topology, ns: Netns, dst: str) -> str:
    """Suggest the missing route: the destination's subnet, via the overlay if there is one."""
    owner = topo.netns_owning(dst)
    subnet = subnet_of(owner, dst) if owner else f"{dst}/32"
    net = ipaddress.ip_network(subnet, strict=False)
    for ln in ns.links:
        if ln.vxlan is None:
            continue
        for other in topo.namespaces:
            for rl in other.links:
                gw = next((a.address for a in rl.addresses
                           if rl.vxlan and rl.vxlan.vni == ln.vxlan.vni and other.inode != ns.inode
                           and ipaddress.ip_address(a.address) in net), "")
                if gw:
                    return in_netns(ns, f"ip route add {net} via {gw} dev {ln.name} onlink")
    return in_netns(ns, f"ip route add {net} via <next-hop>")
