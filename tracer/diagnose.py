"""Why a probe died, and the command that fixes it: the drop cross-checked with the config.

The kernel tells *where* (the last hop, kfree_skb's location) and a coarse
*why* (the drop reason, by name, decoded from the running kernel's BTF — no
number table here). The *cause* a person can act on is in the configuration:
a sysctl, a missing route, a disabled bridge port, an FDB entry, an MTU. So
each rule below looks at the drop and then checks the discovered
:class:`Topology` snapshot for the setting that explains it, and says which
facts it used (``evidence``). Pure: no bcc, pyroute2 or textual, so it runs
the same on a recording as live.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from tracer.correlate.journey import Hop
from tracer.correlate.probes import ProbeResult
from tracer.model import Event, Hook
from tracer.topology.model import Link, Netns, Topology

DELIVERED = "delivered"
DEFAULT_FDB_PORT_STATE = "forwarding"


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """What a person needs: the cause in words, the facts behind it, a command."""

    kind: str  # stable word: ip-forward-off, no-route, netfilter-drop, bridge-port-blocked …
    cause: str
    fix: str = ""  # one shell command; "" when no configuration check explained it
    evidence: tuple[str, ...] = ()
    hop: Hop | None = None  # where the packet died, or the last hop it reached
    # The device whose setting is at fault when it is not where the packet died (the
    # disabled port veth20 for a drop seen on veth10): (netns, dev, netns inode, ifindex).
    culprit: tuple[str, str, int, int] | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "cause": self.cause, "fix": self.fix,
                                  "evidence": list(self.evidence)}
        if self.culprit is not None:
            out["culprit"] = {"netns": self.culprit[0], "dev": self.culprit[1]}
        if self.hop is not None:
            out["hop"] = {"index": self.hop.index, "netns": self.hop.netns, "dev": self.hop.dev,
                          "verb": self.hop.verb, "reason": self.hop.reason,
                          "location": self.hop.location}
        return out


@dataclass(frozen=True, slots=True)
class Context:
    """The drop and what is known around it, handed to every rule."""

    topo: Topology
    result: ProbeResult
    hop: Hop
    hops: tuple[Hop, ...]  # the journey the hop belongs to
    ns: Netns | None
    link: Link | None

    @property
    def reason(self) -> str:
        return self.hop.reason

    @property
    def location(self) -> str:
        return self.hop.location

    @property
    def before(self) -> tuple[Hop, ...]:
        return self.hops[:self.hops.index(self.hop)] if self.hop in self.hops else ()

    @property
    def packet(self) -> Event | None:
        """A packet event of the dying journey (not a route lookup or FDB update)."""
        for h in (self.hop, *reversed(self.before)):
            for e in h.events:
                if e.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE) and e.key.present:
                    return e
        return None


Rule = Callable[[Context], "Diagnosis | None"]


# -- entry points -----------------------------------------------------------

def find_drop(p: ProbeResult) -> tuple[Hop, tuple[Hop, ...]] | None:
    """The hop where the probe died, with its journey.

    A drop right after a 'deliver' hop is shown as 'consumed' by the hop
    builder (the packet had reached its destination's netns); when the probe
    got no answer, that free *is* the drop — rp_filter kills a packet there.
    """
    for hops in (p.request, p.reply):
        for h in hops:
            if h.verb == "drop":
                return h, hops
    if p.status == DELIVERED or p.reply:
        return None
    for h in p.request:
        if h.verb == "consumed" and h.reason:
            return h, p.request
    return None


def diagnose(p: ProbeResult, topo: Topology) -> Diagnosis | None:
    """A diagnosis for a probe that was not delivered; None for a delivered one."""
    if p.status == DELIVERED or any(h.verb == "deliver" for h in p.reply):
        return None  # a reply that reached the sender (a replay has no RTT to say so)
    found = find_drop(p)
    if found is None:
        return _unanswered(p, topo)
    hop, hops = found
    ns = _netns_of(topo, hop)
    link = ns.link(hop.ifindex) if ns and hop.ifindex else (ns.link_by_name(hop.dev) if ns else None)
    ctx = Context(topo, p, hop, hops, ns, link)
    for rule in RULES:
        d = rule(ctx)
        if d is not None:
            return d
    return _unexplained(ctx)


# -- helpers ----------------------------------------------------------------

def _netns_of(topo: Topology, hop: Hop) -> Netns | None:
    ns = topo.netns_by_inode(hop.netns_inode) if hop.netns_inode else None
    return ns or topo.find_netns(hop.netns)


def in_netns(ns: Netns | None, cmd: str) -> str:
    """A command run inside ``ns``: ``ip netns exec NAME`` for named namespaces."""
    if ns is None or ns.is_init:
        return cmd
    if ns.name:
        return f"ip netns exec {ns.name} {cmd}"
    if ns.pids:
        return f"nsenter -t {ns.pids[0]} -n {cmd}"
    return cmd


def _dst(ctx: Context) -> str:
    ev = ctx.packet
    return ev.key.dst if ev else ""


def _src(ctx: Context) -> str:
    ev = ctx.packet
    return ev.key.src if ev else ""


def ip_length(ev: Event) -> int:
    """The IP total length from the captured headers (0 when not captured)."""
    off = 0 if ev.headers_l3 else 14
    h = ev.headers
    if len(h) < off + 4 or h[off] >> 4 != 4:
        return 0
    return int.from_bytes(h[off + 2:off + 4], "big")


def _rp_mode(ns: Netns, dev: str) -> int:
    """Effective rp_filter on a device: the kernel uses max(conf.all, conf.DEV)."""
    vals = [ns.sysctl("net.ipv4.conf.all.rp_filter", "0"), ns.sysctl(f"net.ipv4.conf.{dev}.rp_filter", "0")]
    return max(int(v) if v.isdigit() else 0 for v in vals)


def _subnet_of(ns: Netns, addr: str) -> str:
    for ln in ns.links:
        for a in ln.addresses:
            if a.address == addr and a.family == 4:
                return str(ipaddress.ip_network(a.cidr, strict=False))
    return f"{addr}/32"


# -- rules ------------------------------------------------------------------

def rule_netfilter(ctx: Context) -> Diagnosis | None:
    """iptables/nftables dropped it; on a bridge port that means br_netfilter's FORWARD."""
    if not ctx.reason.startswith("NETFILTER"):
        return None
    ns = ctx.ns
    nf = ns.sysctl("net.bridge.bridge-nf-call-iptables") if ns else ""
    bridged = ctx.link is not None and ctx.link.master != 0 and not any(
        h.verb == "bridge-up" and h.netns == ctx.hop.netns for h in ctx.before)
    ev = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} in {ctx.hop.netns}",
          f"net.bridge.bridge-nf-call-iptables = {nf or '?'} in {ctx.hop.netns}"]
    if bridged and ns is not None and ctx.link is not None:
        br = ns.link(ctx.link.master)
        brn = br.name if br else "br0"
        ev.append(f"{ctx.hop.dev} is a port of bridge {brn}: the frame was being bridged, not routed")
        cause = (f"a bridged frame on {brn} was dropped by iptables' FORWARD chain: with "
                 f"bridge-nf-call-iptables=1 br_netfilter sends bridged IPv4 through iptables, "
                 f"and FORWARD drops it (policy DROP, docker's default)")
        return Diagnosis("netfilter-drop", cause,
                         in_netns(ns, f"iptables -I FORWARD -i {brn} -o {brn} -j ACCEPT"),
                         tuple(ev), ctx.hop)
    cause = (f"a netfilter rule or chain policy in {ctx.hop.netns} dropped the packet "
             "(routed through FORWARD; check `iptables -S FORWARD`)")
    return Diagnosis("netfilter-drop", cause, in_netns(ns, "iptables -P FORWARD ACCEPT"),
                     tuple(ev), ctx.hop)


def rule_rp_filter(ctx: Context) -> Diagnosis | None:
    """Strict reverse-path filtering: the route back to the source uses another device."""
    if ctx.reason != "IP_RPFILTER" or ctx.ns is None:
        return None
    ns, src, dev = ctx.ns, _src(ctx), ctx.hop.dev
    back = ns.route_for(src) if src else None
    back_dev = ns.link(back.ifindex) if back else None
    mode = _rp_mode(ns, dev)
    ev = [f"kfree_skb reason IP_RPFILTER at {ctx.location or '?'} in {ns.label}",
          f"rp_filter on {dev}: max(conf.all={ns.sysctl('net.ipv4.conf.all.rp_filter', '?')}, "
          f"conf.{dev}={ns.sysctl(f'net.ipv4.conf.{dev}.rp_filter', '?')}) = {mode}"
          + (" (strict)" if mode == 1 else "")]
    if back is not None:
        ev.append(f"route back to {src} in {ns.label}: {back.dst} dev "
                  f"{back_dev.name if back_dev else back.ifindex} — the packet came in on {dev}")
    cause = (f"strict reverse-path filter (rp_filter=1) in {ns.label}: the packet from {src} "
             f"arrived on {dev} but the route back to {src} leaves via "
             f"{back_dev.name if back_dev else 'another device'} (asymmetric path)")
    return Diagnosis("rp-filter", cause,
                     in_netns(ns, "sysctl -w net.ipv4.conf.all.rp_filter=2"), tuple(ev), ctx.hop)


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
                     tuple(facts), ctx.hop, _device(ns, ln))


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
    route = ns.route_for(_dst(ctx)) if _dst(ctx) else None
    gw = route.gateway if route and route.ifindex == link.ifindex else ""
    neigh = next((n for n in ns.neighbours if n.ifindex == link.ifindex and n.address == gw), None)
    facts = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} on {link.name}",
             f"route in {ns.label}: {_dst(ctx)} via {gw or '?'} dev {link.name}"]
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


def rule_bridge_port(ctx: Context) -> Diagnosis | None:
    """A bridge found no port to send to: the destination's port is down or not forwarding."""
    ns, link = ctx.ns, ctx.link
    if ns is None or link is None or not (link.master or link.kind == "bridge"):
        return None
    if not ctx.location.startswith("br_") and ctx.reason not in ("NO_TX_TARGET", "NOT_SPECIFIED"):
        return None
    bridge = link.master or link.ifindex
    port = _port_towards(ctx.topo, ns, bridge, _dst(ctx))
    bad = [port] if port is not None else []
    bad += [ln for ln in ns.links if ln.master == bridge and ln not in bad and _port_problem(ln)]
    bad = [ln for ln in bad if _port_problem(ln)]
    if not bad:
        return None
    ln = bad[0]
    br = ns.link(bridge)
    brn = br.name if br else "bridge"
    state = ln.bridge_port.stp_state if ln.bridge_port else "?"
    facts = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} on {ctx.hop.dev} ({brn})",
             f"{ln.name}: link {ln.state}, bridge port state {state}"]
    if port is not None:
        facts.append(f"{_dst(ctx)} lives behind port {port.name} of {brn}")
    culprit = _device(ns, ln)
    if ln.state != "up":
        return Diagnosis("port-down", f"bridge port {ln.name} of {brn} in {ns.label} is down: "
                         f"the bridge has nowhere to send frames for {_dst(ctx)}",
                         in_netns(ns, f"ip link set dev {ln.name} up"), tuple(facts), ctx.hop,
                         culprit)
    return Diagnosis("bridge-port-blocked", f"bridge port {ln.name} of {brn} in {ns.label} is in "
                     f"STP state '{state}', not forwarding: the bridge drops frames it would "
                     f"send through it", in_netns(ns, f"bridge link set dev {ln.name} state 3"),
                     tuple(facts), ctx.hop, culprit)


def _device(ns: Netns, ln: Link) -> tuple[str, str, int, int]:
    return (ns.label, ln.name, ns.inode, ln.ifindex)


def _port_problem(ln: Link) -> bool:
    bp = ln.bridge_port
    return ln.state != "up" or (bp is not None and bp.stp_state != DEFAULT_FDB_PORT_STATE)


def _port_towards(topo: Topology, ns: Netns, bridge: int, dst: str) -> Link | None:
    """The port of ``bridge`` whose veth peer's namespace owns ``dst``."""
    owner = topo.netns_owning(dst) if dst else None
    if owner is None:
        return None
    for ln in ns.links:
        if ln.master != bridge:
            continue
        peer = topo.peer_of(ns.inode, ln.ifindex)
        if peer is not None and peer[0].inode == owner.inode:
            return ln
    return None


def rule_routing(ctx: Context) -> Diagnosis | None:
    """ip_error: the input route lookup failed — forwarding off, or no route to the destination."""
    routing = ctx.location.startswith("ip_error") or ctx.reason in (
        "IP_INNOROUTES", "IP_INADDRERRORS", "IP_OUTNOROUTES")
    if not routing or ctx.ns is None:
        return None
    ns, dst = ctx.ns, _dst(ctx)
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
    subnet = _subnet_of(owner, dst) if owner else f"{dst}/32"
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


def _unexplained(ctx: Context) -> Diagnosis:
    return Diagnosis("unknown", f"the kernel dropped the packet in {ctx.hop.netns} on "
                     f"{ctx.hop.dev or '?'} (reason {ctx.reason or '?'} at "
                     f"{ctx.location or '?'}); no configuration check explained it", "",
                     (f"kfree_skb reason {ctx.reason} at {ctx.location}",), ctx.hop)


# -- no drop seen: the reply never came --------------------------------------

def _last_reached(hops: tuple[Hop, ...]) -> Hop | None:
    moving = [h for h in hops if h.verb not in ("route", "route-local", "route-fail", "fdb-learn")]
    return moving[-1] if moving else (hops[-1] if hops else None)


def _unanswered(p: ProbeResult, topo: Topology) -> Diagnosis:
    """No drop seen: say how far the request got, and check the way back."""
    last = _last_reached(p.request)
    if last is None:
        return Diagnosis("no-trace", "no event of the probe was seen (was it sent?)")
    first = next((e for h in p.request for e in h.events
                  if e.hook != Hook.FIB_TABLE_LOOKUP and e.key.present), None)
    arrived = next((e for e in reversed(last.events) if e.key.present), None)
    if first is None or arrived is None:
        return Diagnosis("unanswered", f"the request was last seen in {last.netns} on {last.dev}; "
                         "no reply came back", "", (), last)
    src, seen_src = first.key.src, arrived.key.src
    ns = _netns_of(topo, last)
    facts = [f"request last seen at hop {last.index}: {last.netns}/{last.dev} ({last.verb})",
             f"source address there: {seen_src}" + (" (not translated)" if src == seen_src else "")]
    back = ns.route_for(seen_src) if ns and seen_src else None
    if last.verb == "deliver" and ns is not None and back is None:
        facts.append(f"{ns.label} has no route to {seen_src}")
        nat = _masquerade_fix(topo, p, src) if src == seen_src else ""
        cause = (f"the request reached {ns.label} but the reply never came back: {ns.label} has "
                 f"no route back to {seen_src}"
                 + (" and the source was not NATed (no MASQUERADE on the way out)" if nat else ""))
        return Diagnosis("no-return-route", cause, nat, tuple(facts), last)
    return Diagnosis("unanswered", f"the request was last seen in {last.netns} on {last.dev}; "
                     "no reply came back", "", tuple(facts), last)


def _masquerade_fix(topo: Topology, p: ProbeResult, src: str) -> str:
    """The MASQUERADE rule for the namespace that routed the source subnet out."""
    src_ns = topo.netns_owning(src)
    subnet = _subnet_of(src_ns, src) if src_ns else f"{src}/32"
    for h in p.request:
        ns = _netns_of(topo, h)
        if h.verb != "bridge-up" or ns is None or ns is src_ns:
            continue
        br = ns.link_by_name(h.dev)
        if br is not None and any(a.cidr and ipaddress.ip_address(src) in
                                  ipaddress.ip_network(a.cidr, strict=False) for a in br.addresses):
            return in_netns(ns, f"iptables -t nat -A POSTROUTING -s {subnet} ! -o {br.name} "
                                "-j MASQUERADE")
    return ""


RULES: tuple[Rule, ...] = (rule_netfilter, rule_rp_filter, rule_mtu, rule_vxlan,
                           rule_bridge_port, rule_routing)

__all__ = ["Diagnosis", "diagnose", "find_drop", "in_netns", "ip_length"]
