"""Rules at the IP layer: forwarding turned off, or no route to the destination."""

from __future__ import annotations

import ipaddress

from tracer.diagnose.context import NOTHING, Context, Diagnosis, dst_of, in_netns, said, subnet_of
from tracer.topology.model import Netns, Topology


def rule_routing(ctx: Context) -> Diagnosis | None:
    """ip_error: the input route lookup failed — forwarding off, or no route to the destination."""
    routing = ctx.location.startswith("ip_error") or ctx.reason in (
        "IP_INNOROUTES", "IP_INADDRERRORS", "IP_OUTNOROUTES")
    if not routing or ctx.ns is None:
        return None
    ns, dst = ctx.ns, dst_of(ctx)
    key = "net.ipv6.conf.all.forwarding" if ":" in dst else "net.ipv4.ip_forward"  # ip6_forward
    fwd = ns.sysctl(key)
    route = ns.route_for(dst) if dst else None
    facts = [said("chk.kfree.in", reason=ctx.reason, location=ctx.location or "?", ns=ns.label),
             said("chk.sysctl", key=key, value=fwd or "?", ns=ns.label),
             said("chk.route-to", dst=dst, ns=ns.label, route=route.dst if route else said("chk.none"))]
    if fwd == "0" and not ns.owns_address(dst):
        return Diagnosis("ip-forward-off", said("ip-forward-off", ip="IPv6" if ":" in dst else "IP",
                                                ns=ns.label, key=key, dst=dst),
                         in_netns(ns, f"sysctl -w {key}=1"), tuple(facts), ctx.hop)
    if route is None:
        return Diagnosis("no-route", said("no-route", ns=ns.label, dst=dst),
                         _route_fix(ctx.topo, ns, dst), tuple(facts), ctx.hop)
    return None


def rule_ipv6_disabled(ctx: Context) -> Diagnosis | None:
    """IPV6DISABLED: an IPv6 packet reached a device whose IPv6 is off (ip6_rcv_core, 6.18).

    Turning it back on is not the whole fix: disabling IPv6 on a device flushed
    its addresses, their routes and its neighbour entries (addrconf_ifdown, 6.18),
    and nothing puts them back, so the cause says so rather than promise that
    one sysctl restores the path.
    """
    if ctx.reason != "IPV6DISABLED" or ctx.ns is None:
        return None
    ns, dev = ctx.ns, ctx.hop.dev
    key = f"net.ipv6.conf.{dev or 'all'}.disable_ipv6"
    facts = (said("chk.kfree.in", reason="IPV6DISABLED", location=ctx.location or "?", ns=ns.label),
             said("chk.sysctl", key=key, value=ns.sysctl(key) or "?", ns=ns.label))
    flushed = said("ipv6-disabled.flushed", dev=dev) if dev else NOTHING
    return Diagnosis("ipv6-disabled", said("ipv6-disabled", dev=dev or said("the-device"), ns=ns.label,
                                           dst=dst_of(ctx) or "?", flushed=flushed),
                     in_netns(ns, f"sysctl -w {sysctl_arg(dev or 'all', 'disable_ipv6')}=0"), facts,
                     ctx.hop)


def sysctl_arg(dev: str, leaf: str) -> str:
    """``net.ipv6.conf.DEV.LEAF`` as sysctl(8) takes it: a dot in a device name
    (flannel.1) is written as a slash, as sysctl itself prints it, else sysctl
    reads it as a separator (net/ipv6/conf/flannel/1/…) and fails."""
    return f"net.ipv6.conf.{dev.replace('.', '/')}.{leaf}"


def _route_fix(topo: Topology, ns: Netns, dst: str) -> str:
    """Suggest the missing route: the destination's subnet, via the overlay if there is one."""
    subnet = subnet_of(topo.netns_owning(dst), dst)
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
