"""Rules at the link layer: an MTU the packet does not fit, a VXLAN device with no remote VTEP."""

from __future__ import annotations

from tracer.diagnose.context import Context, Diagnosis, device, dst_of, in_netns, ip_length
from tracer.topology.model import Link, Netns, Topology


def rule_mtu(ctx: Context) -> Diagnosis | None:
    """The packet is longer than a device on its way allows (checked against real MTUs)."""
    ev = ctx.packet
    length = ip_length(ev) if ev else 0
    if length == 0 or ctx.ns is None or ctx.link is None:
        return None
    cands: list[tuple[Netns, Link, str]] = [(ctx.ns, ctx.link, "the device it was on")]
    peer = ctx.topo.peer_of(ctx.ns.inode, ctx.link.ifindex)
    if peer is not None:
        cands.append((peer[0], peer[1], "the veth peer it had to enter"))
    too_big = [(ns, ln, why) for ns, ln, why in cands if length > ln.mtu]
    named = "TOO_BIG" in ctx.reason or "FRAG" in ctx.reason
    if not too_big and not named:
        return None
    if not too_big:
        return Diagnosis("mtu", f"the {length}-byte packet does not fit the path "
                         f"(reason {ctx.reason}) and may not be fragmented (DF)", "",
                         (f"kfree_skb reason {ctx.reason} at {ctx.location}",), ctx.hop)
    ns, ln, why = too_big[0]
    need = max(length, max(x[1].mtu for x in cands))
    facts = [f"packet IP length {length} bytes at {ctx.hop.netns}/{ctx.hop.dev}",
             *(f"MTU of {n.label}/{x.name} = {x.mtu} ({w})" for n, x, w in cands),
             f"kfree_skb reason {ctx.reason} at {ctx.location or '?'}"]
    vx = _vxlan_hint(ctx)
    if vx:
        facts.append(vx)
    cause = (f"MTU mismatch: a {length}-byte packet is larger than the MTU {ln.mtu} of "
             f"{ns.label}/{ln.name} ({why}), so the kernel drops it there")
    return Diagnosis("mtu", cause, in_netns(ns, f"ip link set dev {ln.name} mtu {need}"),
                     tuple(facts), ctx.hop, device(ns, ln))


def _vxlan_hint(ctx: Context) -> str:
    ev = ctx.packet
    if ev is None or ev.inner is None:
        return ""
    for ns in ctx.topo.namespaces:
        for ln in ns.links:
            if ln.vxlan is not None:
                return (f"VXLAN adds 50 bytes: {ns.label}/{ln.name} MTU {ln.mtu} needs an "
                        f"underlay MTU of at least {ln.mtu + 50}")
    return ""


def rule_vxlan(ctx: Context) -> Diagnosis | None:
    """The VXLAN device has no remote VTEP for the next hop's MAC (FDB) or no MAC (neighbour)."""
    ns, link = ctx.ns, ctx.link
    if ns is None or link is None or link.vxlan is None:
        return None
    route = ns.route_for(dst_of(ctx)) if dst_of(ctx) else None
    gw = route.gateway if route and route.ifindex == link.ifindex else ""
    neigh = next((n for n in ns.neighbours if n.ifindex == link.ifindex and n.address == gw), None)
    facts = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} on {link.name}",
             f"route in {ns.label}: {dst_of(ctx)} via {gw or '?'} dev {link.name}"]
    if gw and (neigh is None or not neigh.lladdr):
        mac = _remote_vtep_mac(ctx.topo, gw, link.vxlan.vni)
        facts.append(f"no neighbour entry for {gw} on {link.name}")
        fix = f"ip neigh replace {gw} lladdr {mac} dev {link.name} nud permanent" if mac else ""
        return Diagnosis("vxlan-neigh-missing", f"{link.name} in {ns.label} has no neighbour (ARP) "
                         f"entry for the remote VTEP gateway {gw}, so it cannot address the frame",
                         in_netns(ns, fix) if fix else "", tuple(facts), ctx.hop)
    lladdr = neigh.lladdr if neigh else ""
    fdb = [f for f in ns.fdb if f.ifindex == link.ifindex and f.mac == lladdr]
    if lladdr and not fdb:
        remote = _remote_vtep_ip(ctx.topo, lladdr, link.vxlan.vni)
        facts += [f"neighbour {gw} → {lladdr} on {link.name}",
                  (f"no FDB entry for {lladdr} on {link.name} (learning "
                   f"{'on' if link.vxlan.learning else 'off'}): no remote VTEP to send to")]
        fix = f"bridge fdb append {lladdr} dev {link.name} dst {remote} self permanent" if remote else ""
        return Diagnosis("vxlan-fdb-missing", f"{link.name} in {ns.label} has no FDB entry for "
                         f"{lladdr}, the remote VTEP MAC of {gw}: VXLAN does not know which "
                         f"node{' (' + remote + ')' if remote else ''} to send to",
                         in_netns(ns, fix) if fix else "", tuple(facts), ctx.hop)
    return None


def _remote_vtep_mac(topo: Topology, gw: str, vni: int) -> str:
    for ns in topo.namespaces:
        for ln in ns.links:
            if ln.vxlan and ln.vxlan.vni == vni and any(a.address == gw for a in ln.addresses):
                return ln.mac
    return ""


def _remote_vtep_ip(topo: Topology, mac: str, vni: int) -> str:
    for ns in topo.namespaces:
        for ln in ns.links:
            if ln.vxlan and ln.vxlan.vni == vni and ln.mac == mac:
                return ln.vxlan.local
    return ""
