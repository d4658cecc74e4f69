"""Route lookups labelled for what they are (issue 17): a routing decision with the
matched route's real prefix, an address-type check (ARP, iptables' addrtype),
ARP's own question, or bridge netfilter's lookup after its DNAT.

Separate from the hop builder because each label is a small claim about who
in the kernel asked, with the kernel source it was read in.
"""

from __future__ import annotations

from dataclasses import replace

from tracer.correlate.journey import Hop
from tracer.correlate.place import Place
from tracer.correlate.vocab import Verb
from tracer.model import Event, ip4

ERRNO_TEXT = {11: "no route matches", 101: "network unreachable", 113: "host unreachable",
              22: "invalid (martian) address", 1: "prohibited by a rule"}


def route_text(p: Place, ev: Event) -> tuple[Verb, str]:
    r = ev.route
    dst = ev.outer.dst
    where = f"in {p.label}"
    if r is not None and r.iif == 0:
        return addr_check_text(p, ev, dst, where)
    if r is None or r.err:
        why = ERRNO_TEXT.get(-r.err if r else 0, f"error {r.err if r else '?'}")
        return Verb.ROUTE_FAIL, f"route lookup {where} for {dst} failed: {why}"
    if p.netns and p.netns.owns_address(dst):
        return Verb.ROUTE_LOCAL, f"route lookup {where}: {dst} is local, deliver up the stack"
    return Verb.ROUTE, f"route lookup {where}: {dst} matches {route_to(p, ev, dst)}"


def route_to(p: Place, ev: Event, dst: str) -> str:
    """'172.17.0.0/16 via GW dev docker0': the matched route's real prefix (from the
    topology's routes: the tracepoint names the next hop, not the prefix), never
    the looked-up address dressed up as one."""
    r = ev.route
    assert r is not None
    entry = None
    if p.netns:  # the merged local/main trie can report either table id
        entry = p.netns.route_for(dst, r.table) or p.netns.route_for(dst, 254)
    out = p.netns.link(r.nh_ifindex) if p.netns else None
    dev = out.name if out else (ev.ifname or f"if{r.nh_ifindex}")
    gw = r.via or (entry.gateway if ev.outer.v6 and entry else "")  # recorded before schema 6:
    via = f" via {gw}" if gw else ""  # an IPv6 lookup's event carried no gateway
    prefix = entry.dst if entry else f"a route not in the discovered table {r.table}"
    onlink = " onlink" if entry and entry.onlink else ""
    table = "" if r.table in (254, 255) else f" (table {r.table})"
    return f"{prefix}{via} dev {dev}{onlink}{table}"


def addr_check_text(p: Place, ev: Event, dst: str, where: str) -> tuple[Verb, str]:
    """A lookup that routes no packet: flowi4_iif 0. A packet's input route sets
    the receiving device and an output route sets LOOPBACK_IFINDEX
    (ip_route_input_slow, ip_route_output_key_hash_rcu, read in 6.18), while
    __inet_dev_addr_type asks with the address alone: iptables' addrtype match
    (Docker's `-m addrtype --dst-type LOCAL`), reached by bridged frames too
    under bridge netfilter, and arp_process for a request's sender. Printed as a
    routing decision it said "172.17.0.3 matches 172.17.0.3" for a frame the
    bridge merely switched."""
    r = ev.route
    if p.netns and p.netns.owns_address(dst):
        what = f"{dst} is one of its own addresses"
    elif r is None or r.err:
        what = f"{dst} is not a local address"
    else:
        what = f"{dst} is not a local address (its route: {route_to(p, ev, dst)})"
    return Verb.ADDR_CHECK, (f"address-type lookup {where} (as ARP or iptables' addrtype match make; "
                             f"not a routing decision): {what}")


def by_bridge_netfilter(p: Place, prev: Place | None, ev: Event) -> bool:
    """Whether a route lookup is bridge netfilter's own, after its PREROUTING DNAT.

    With bridge-nf-call-iptables, a frame entering a bridge port runs iptables'
    PREROUTING before the bridge forwards it; when a DNAT rule there changed its
    destination, br_netfilter looks the new address up with the bridge as input
    device to learn whether the frame stays bridged (br_nf_pre_routing_finish,
    net/bridge/br_netfilter_hooks.c: read in older trees, its lookup seen on
    6.18 as below). So: input device a bridge, while the packet's last place is
    one of that bridge's ports, not the bridge itself, whose receive an IP
    stack lookup would follow. Printed as a routing decision it said
    "route lookup in host: … matches … dev br0" for a frame the bridge switched.
    """
    r = ev.route
    if r is None or not r.iif or p.netns is None or prev is None or prev.link is None:
        return False
    br = p.netns.link(r.iif)
    return (br is not None and br.kind == "bridge" and prev.netns is not None
            and prev.netns.inode == p.netns.inode
            and prev.link.master == r.iif and prev.link.ifindex != r.iif)


def brnf_route_text(p: Place, ev: Event) -> str:
    """Bridge netfilter's lookup, named as such, with what it found."""
    r = ev.route
    assert r is not None and p.netns is not None
    br = p.netns.link(r.iif)
    dst = ev.outer.dst
    head = (f"route lookup by bridge netfilter in {p.label} after DNAT (does the frame stay on bridge "
            f"{br.name if br else '?'}?)")
    if r.err:
        return f"{head}: {dst} failed: {ERRNO_TEXT.get(-r.err, f'error {r.err}')}"
    if p.netns.owns_address(dst):
        return f"{head}: {dst} is local"
    return f"{head}: {dst} matches {route_to(p, ev, dst)}"


def brnf_handback(hops: list[Hop]) -> None:
    """What follows bridge netfilter's lookup is its doing, not the host's. A send into
    the bridge is br_netfilter handing the DNAT'ed frame back through the new
    destination's neighbour entry (for its MAC), which the bridge forwards on
    (br_nf_pre_routing_finish_bridge, then br_dev_xmit); the bridge passing the frame
    up is br_netfilter having re-addressed it to the bridge's own MAC because the
    lookup did not keep it on the bridge (forwarding off included: the kernel then
    made the route ip_error). Both paths seen on 6.18."""
    for i, h in enumerate(hops[:-1]):
        if h.verb != Verb.BRNF_ROUTE or not h.events or h.events[0].route is None:
            continue
        nxt, dst = hops[i + 1], h.events[0].outer.dst
        if nxt.netns != h.netns or nxt.ifindex != h.events[0].route.iif:
            continue
        if nxt.verb == Verb.BRIDGE_XMIT:
            hops[i + 1] = replace(nxt, action=(f"bridge netfilter hands the frame back to bridge {nxt.dev} "
                                               f"with {dst}'s MAC (its neighbour entry); "
                                               "the bridge switches it to a port"))
        elif nxt.verb == Verb.BRIDGE_UP:
            hops[i + 1] = replace(nxt, action=(f"bridge {nxt.dev} passes the frame up to {nxt.netns}'s IP "
                                               "stack (bridge netfilter gave it the bridge's own MAC: its "
                                               f"lookup did not keep {dst} on the bridge)"))


def arp_lookup_text(p: Place, ev: Event, verb: Verb) -> str:
    """A lookup on an ARP frame is the receiving ARP code asking whether the target is its own
    (arp_process -> ip_route_input_noref, net/ipv4/arp.c, Linux 6.18), not a routing decision."""
    target = ip4(ev.outer.daddr)
    if verb == Verb.ROUTE_LOCAL:
        return f"ARP in {p.label}: {target} is local, the kernel answers"
    return f"ARP in {p.label}: {target} is not local here, no answer"
