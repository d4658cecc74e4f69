"""Rules at the link layer: an MTU the packet does not fit, a VXLAN device with no remote VTEP."""

from __future__ import annotations

from tracer.diagnose.context import (
    NOTHING,
    Context,
    Diagnosis,
    Said,
    device,
    dst_of,
    in_netns,
    ip_length,
    said,
)
from tracer.topology.model import Link, Netns, Topology


def rule_mtu(ctx: Context) -> Diagnosis | None:
    """The packet is longer than a device on its way allows (checked against real MTUs)."""
    ev = ctx.packet
    length = ip_length(ev) if ev else 0
    if length == 0 or ctx.ns is None or ctx.link is None:
        return None
    cands: list[tuple[Netns, Link, Said]] = [(ctx.ns, ctx.link, said("mtu.own"))]
    peer = ctx.topo.peer_of(ctx.ns.inode, ctx.link.ifindex)
    if peer is not None:
        cands.append((peer[0], peer[1], said("mtu.peer")))
    too_big = [(ns, ln, why) for ns, ln, why in cands if length > ln.mtu]
    named = "TOO_BIG" in ctx.reason or "FRAG" in ctx.reason
    if not too_big and not named:
        return None
    if not too_big:
        return Diagnosis("mtu", said("mtu.df", length=str(length), reason=ctx.reason), "",
                         (said("chk.kfree", reason=ctx.reason, location=ctx.location),), ctx.hop)
    ns, ln, why = too_big[0]
    need = max(length, max(x[1].mtu for x in cands))
    facts = [said("chk.ip-length", length=str(length), netns=ctx.hop.netns, dev=ctx.hop.dev),
             *(said("chk.mtu-of", ns=n.label, dev=x.name, mtu=str(x.mtu), why=w) for n, x, w in cands),
             said("chk.kfree", reason=ctx.reason, location=ctx.location or "?")]
    vx = _vxlan_hint(ctx)
    if vx is not None:
        facts.append(vx)
    cause = said("mtu", length=str(length), mtu=str(ln.mtu), ns=ns.label, dev=ln.name, why=why)
    return Diagnosis("mtu", cause, in_netns(ns, f"ip link set dev {ln.name} mtu {need}"),
                     tuple(facts), ctx.hop, device(ns, ln))


def _vxlan_hint(ctx: Context) -> Said | None:
    ev = ctx.packet
    if ev is None or ev.inner is None:
        return None
    for ns in ctx.topo.namespaces:
        for ln in ns.links:
            if ln.vxlan is not None:
                return said("chk.vxlan-overhead", ns=ns.label, dev=ln.name, mtu=str(ln.mtu),
                            need=str(ln.mtu + 50))
    return None


def rule_vxlan(ctx: Context) -> Diagnosis | None:
    """The VXLAN device has no remote VTEP for the next hop's MAC (FDB) or no MAC (neighbour)."""
    ns, link = ctx.ns, ctx.link
    if ns is None or link is None or link.vxlan is None:
        return None
    route = ns.route_for(dst_of(ctx)) if dst_of(ctx) else None
    gw = route.gateway if route and route.ifindex == link.ifindex else ""
    neigh = next((n for n in ns.neighbours if n.ifindex == link.ifindex and n.address == gw), None)
    facts = [said("chk.kfree.on", reason=ctx.reason, location=ctx.location or "?", dev=link.name),
             said("chk.route-via", ns=ns.label, dst=dst_of(ctx), gw=gw or "?", dev=link.name)]
    if gw and (neigh is None or not neigh.lladdr):
        mac = _remote_vtep_mac(ctx.topo, gw, link.vxlan.vni)
        facts.append(said("chk.no-neigh", gw=gw, dev=link.name))
        fix = f"ip neigh replace {gw} lladdr {mac} dev {link.name} nud permanent" if mac else ""
        return Diagnosis("vxlan-neigh-missing", said("vxlan-neigh-missing", dev=link.name, ns=ns.label,
                                                     gw=gw),
                         in_netns(ns, fix) if fix else "", tuple(facts), ctx.hop)
    lladdr = neigh.lladdr if neigh else ""
    fdb = [f for f in ns.fdb if f.ifindex == link.ifindex and f.mac == lladdr]
    if lladdr and not fdb:
        remote = _remote_vtep_ip(ctx.topo, lladdr, link.vxlan.vni)
        facts += [said("chk.neigh", gw=gw, mac=lladdr, dev=link.name),
                  said("chk.no-fdb", mac=lladdr, dev=link.name,
                       learning=said("chk.on") if link.vxlan.learning else said("chk.off"))]
        fix = f"bridge fdb append {lladdr} dev {link.name} dst {remote} self permanent" if remote else ""
        cause = said("vxlan-fdb-missing", dev=link.name, ns=ns.label, mac=lladdr, gw=gw,
                     remote=said("vtep-at", ip=remote) if remote else NOTHING)
        return Diagnosis("vxlan-fdb-missing", cause,
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
