"""From a journey's raw events to hops a person reads: place, role, action.

Events at the same place in a row (net_dev_queue then net_dev_start_xmit on
one device) are one hop. Each hop is named by the device's role in the
discovered topology and by what the kernel did there, in the terms of the
seed notes: a veth pair moves the packet into another namespace, a bridge
passes a frame up to the host when the destination MAC is its own, a route
lookup picks the next hop, VXLAN wraps the packet in UDP.
"""

from __future__ import annotations

from dataclasses import replace

from tracer.correlate.journey import Hop, Journey
from tracer.correlate.lookups import (
    arp_lookup_text,
    brnf_handback,
    brnf_route_text,
    by_bridge_netfilter,
    route_text,
)
from tracer.correlate.nathops import mark_nat, nat_tail, undeliver_transit
from tracer.correlate.place import SINGLE_HOOKS, Place, place_of
from tracer.correlate.vocab import MOVING, Verb
from tracer.model import ETH_P_ARP, Event, Hook
from tracer.topology.model import (
    ROLE_BRIDGE,
    ROLE_VETH,
    ROLE_VETH_HOST,
    ROLE_VXLAN,
    WORKLOAD_ROLES,
    Topology,
)

TX_HOOKS = {Hook.NET_DEV_QUEUE, Hook.NET_DEV_START_XMIT, Hook.VETH_XMIT, Hook.VXLAN_XMIT,
            Hook.IP_FINISH_OUTPUT2, Hook.BR_FORWARD}
# Reasons a delivered packet is freed with that are not a failure: a raw socket
# took its own copy and no ping socket claimed the original (6.18 ping_rcv).
AFTER_DELIVERY = {"NO_SOCKET"}



def _same_lookup(a: Event, b: Event) -> bool:
    """Repeated identical lookups (a table miss retried per table) read as one hop."""
    return (a.hook == b.hook == Hook.FIB_TABLE_LOOKUP and a.netns == b.netns
            and a.outer.daddr == b.outer.daddr and a.route is not None and b.route is not None
            and (a.route.err, a.route.nh_ifindex, a.route.via)
            == (b.route.err, b.route.nh_ifindex, b.route.via))


def _same_place(a: Event, b: Event) -> bool:
    return (a.hook not in SINGLE_HOOKS and b.hook not in SINGLE_HOOKS
            and (a.netns, a.ifindex) == (b.netns, b.ifindex)
            and (a.hook in TX_HOOKS) == (b.hook in TX_HOOKS))


def _groups(events: list[Event]) -> list[list[Event]]:
    """Consecutive events at one place form one hop.

    A route lookup may fall between two hooks of the same hop (netif_receive_skb
    on cni0, the lookup, then ip_forward on cni0 when kprobes are live): the
    later hook joins the earlier hop instead of repeating it.
    """
    out: list[list[Event]] = []
    for ev in sorted(events, key=lambda e: e.ts_ns):
        last = out[-1][-1] if out else None
        if last is not None and (_same_lookup(last, ev) or _same_place(last, ev)):
            out[-1].append(ev)
            continue
        back = _last_place_group(out)
        if back is None or not _same_place(out[back][-1], ev):
            back = _same_skb_group(out, ev)
        if back is not None and ev.hook not in SINGLE_HOOKS and _same_place(out[back][-1], ev):
            out[back].append(ev)
        else:
            out.append([ev])
    return out


def _same_skb_group(out: list[list[Event]], ev: Event) -> int | None:
    """The group this event continues when only another copy's events came between.

    A flooded broadcast is cloned per port: the copy's netif_rx on veth21 and
    its netif_receive_skb (from the backlog) enclose the original's events on
    br0. The skb address tells the copies apart: ``ev`` joins the last group
    of its own skb at its own place if no group since then was on that skb.
    """
    if not ev.skb:
        return None
    for i in range(len(out) - 1, -1, -1):
        skbs = {e.skb for e in out[i]}
        if ev.skb in skbs:
            return i if _same_place(out[i][-1], ev) else None
    return None


def _last_place_group(out: list[list[Event]]) -> int | None:
    """Index of the last non-lookup group if only route lookups follow it."""
    i = len(out) - 1
    while i >= 0 and out[i][0].hook == Hook.FIB_TABLE_LOOKUP:
        i -= 1
    return i if 0 <= i < len(out) - 1 else None


def build_hops(j: Journey, topo: Topology) -> list[Hop]:
    """The journey as hops, including inferred bridge hops between two ports."""
    hops: list[Hop] = []
    prev: Place | None = None
    groups = _groups(j.events)
    carried = _carried_after(groups)
    for gi, group in enumerate(groups):
        ev = group[0]
        place = place_of(topo, ev, prev)
        nxt = groups[gi + 1][0] if gi + 1 < len(groups) else None
        if place.role == ROLE_VXLAN:  # the outer headers show on the next encapsulated event
            nxt = next((g[0] for g in groups[gi + 1:] if g[0].inner is not None), nxt)
        bridge = _inferred_bridge(topo, hops, prev, place, group)
        if bridge is not None:
            hops.append(bridge)
        kind, verb, action = _describe(topo, place, group, nxt,
                                       is_last=not carried[gi])
        if ev.hook == Hook.FIB_TABLE_LOOKUP and by_bridge_netfilter(place, prev, ev):
            verb, action = Verb.BRNF_ROUTE, brnf_route_text(place, ev)
        if j.key[0] == "arp" and verb in (Verb.ROUTE, Verb.ROUTE_LOCAL):
            action = arp_lookup_text(place, ev, verb)
        if verb == Verb.DROP and ev.reason_name in AFTER_DELIVERY and any(
                h.verb == Verb.DELIVER for h in hops):
            verb, action = Verb.CONSUMED, (f"freed after delivery ({ev.reason_name}): "
                                        "the packet had already reached its destination")
        hops.append(Hop(
            index=len(hops) + 1, t_ns=ev.ts_ns, netns=place.label, dev=place.dev, kind=kind,
            verb=verb, action=action, hooks=tuple(e.hook.label for e in group),
            netns_inode=ev.netns, ifindex=ev.ifindex, events=tuple(group),
            reason=ev.reason_name if ev.hook == Hook.KFREE_SKB else "",
            location=ev.location_sym if ev.hook == Hook.KFREE_SKB else "",
            node=(place.netns.node if place.netns else "") or topo.hostname,
        ))
        if ev.hook not in (Hook.FIB_TABLE_LOOKUP, Hook.BR_FDB_UPDATE):
            prev = place
    brnf_handback(hops)
    mark_nat(hops)
    undeliver_transit(hops)
    _deliver_at_lookup(hops)
    return [_renumber(h, i + 1) for i, h in enumerate(hops)]


def _carried_after(groups: list[list[Event]]) -> list[bool]:
    """Per group, whether a later event shows the packet going on (not a route
    lookup, bridge learning or another free, which may follow a drop in time).
    A free is a *copy* freed only then: one NEIGH_FAILED drop read as "a copy was
    freed" (so UNANSWERED) when a later lookup was filed after it, DROPPED when
    none was. One pass from the end: asked per group, it was quadratic."""
    out = [False] * len(groups)
    going = False
    for gi in range(len(groups) - 1, -1, -1):
        out[gi] = going
        going = going or groups[gi][0].hook not in SINGLE_HOOKS
    return out


def _renumber(h: Hop, i: int) -> Hop:
    # replace() keeps every field (node too: a positional copy lost it)
    return h if h.index == i else replace(h, index=i)


def _inferred_bridge(topo: Topology, hops: list[Hop], prev: Place | None, cur: Place,
                     group: list[Event]) -> Hop | None:
    """A frame received on one bridge port and sent on another crossed the bridge."""
    if prev is None or prev.link is None or cur.link is None or prev.netns is None:
        return None
    if not (prev.link.master and prev.link.master == cur.link.master):
        return None
    if prev.link.ifindex == cur.link.ifindex or group[0].hook not in TX_HOOKS:
        return None
    br = prev.netns.link(prev.link.master)
    name = br.name if br else f"bridge#{prev.link.master}"
    ev = group[0]
    known = prev.netns is not None and any(f.mac == ev.dst_mac and f.ifindex == cur.link.ifindex
                                           for f in prev.netns.fdb)
    if _multicast(ev.dst_mac):
        return Hop(len(hops) + 1, ev.ts_ns, cur.label, name, ROLE_BRIDGE, Verb.BRIDGE_FLOOD,
                   f"bridge {name}: flooded from port {prev.dev} to port {cur.dev} and every other "
                   f"port (destination {ev.dst_mac} is broadcast/multicast)",
                   netns_inode=ev.netns, ifindex=prev.link.master, inferred=True,
                   node=(cur.netns.node if cur.netns else "") or topo.hostname)
    how = "destination MAC is in its FDB" if known else "frame switched by the bridge"
    return Hop(len(hops) + 1, ev.ts_ns, cur.label, name, ROLE_BRIDGE, Verb.BRIDGE_FORWARD,
               f"bridge {name}: forwarded from port {prev.dev} to port {cur.dev} ({how})",
               netns_inode=ev.netns, ifindex=prev.link.master, inferred=True,
               node=(cur.netns.node if cur.netns else "") or topo.hostname)


def _multicast(mac_text: str) -> bool:
    try:
        return bool(int(mac_text.split(":")[0], 16) & 1)
    except ValueError:
        return False


def _describe(topo: Topology, p: Place, group: list[Event], nxt: Event | None,
              is_last: bool) -> tuple[str, Verb, str]:
    ev = group[0]
    if ev.hook == Hook.FIB_TABLE_LOOKUP:
        return ("route",) + route_text(p, ev)
    if ev.hook == Hook.KFREE_SKB:
        if is_last:
            return ("drop", Verb.DROP, f"dropped: {ev.reason_name or 'unknown reason'}"
                    f" at {ev.location_sym or '?'}")
        return ("drop", Verb.FREE_COPY, f"a copy was freed ({ev.reason_name})")
    if ev.hook == Hook.BR_FDB_UPDATE:
        return ("fdb", Verb.FDB_LEARN, f"bridge learned {ev.fdb_mac} on port {p.dev}")
    tx = ev.hook in TX_HOOKS
    return (p.role or "dev",) + (_tx_text(topo, p, ev, nxt) if tx else _rx_text(topo, p, ev))


def _peer_text(topo: Topology, p: Place) -> str:
    if p.netns is None or p.link is None:
        return ""
    peer = topo.peer_of(p.netns.inode, p.link.ifindex)
    return f"{peer[0].label}/{peer[1].name}" if peer else ""


def _tx_text(topo: Topology, p: Place, ev: Event, nxt: Event | None) -> tuple[Verb, str]:
    if p.role == ROLE_VXLAN:
        vx = p.link.vxlan if p.link else None
        outer = ""
        if nxt is not None and nxt.inner is not None:
            outer = f": outer {nxt.outer.src} → {nxt.outer.dst} UDP :{nxt.outer.dport} VNI {nxt.vni}"
        return Verb.ENCAP, f"VXLAN {p.dev} (VNI {vx.vni if vx else '?'}) encapsulates{outer}"
    if ev.inner is not None:
        return Verb.SEND_ENCAP, (f"sent encapsulated on {p.dev}: {ev.outer.src} → {ev.outer.dst} "
                              f"UDP :{ev.outer.dport} VNI {ev.vni}")
    if p.role == ROLE_BRIDGE:
        return Verb.BRIDGE_XMIT, f"routed into bridge {p.dev}, which switches it to a port"
    if p.role == ROLE_VETH_HOST:
        br = p.netns.link(p.link.master) if p.netns and p.link else None
        peer = _peer_text(topo, p)
        return Verb.BRIDGE_OUT, (f"bridge {br.name if br else '?'} sends it out of port {p.dev}"
                              + (f"; the veth pair carries it to {peer}" if peer else ""))
    if p.role in WORKLOAD_ROLES or p.role == ROLE_VETH:
        peer = _peer_text(topo, p)
        return Verb.SEND, f"sent from {p.label} on {p.dev}" + (f" (veth pair to {peer})" if peer else "")
    return Verb.SEND, f"sent on {p.dev} ({ev.key.src} → {ev.key.dst})"


def _rx_text(topo: Topology, p: Place, ev: Event) -> tuple[Verb, str]:
    if ev.inner is not None:
        return Verb.RECV_ENCAP, (f"received encapsulated on {p.dev}: {ev.outer.src} → {ev.outer.dst} "
                                 f"VNI {ev.vni}")
    if p.role == ROLE_VXLAN:
        return Verb.DECAP, f"VXLAN {p.dev} decapsulated the packet (VNI from the outer header)"
    if p.role == ROLE_BRIDGE:
        own = p.link is not None and ev.dst_mac == p.link.mac
        why = ("destination MAC is the bridge's own" if own else
               f"{ev.dst_mac} is a broadcast: the host gets a copy too" if _multicast(ev.dst_mac)
               else "addressed to the host")
        return Verb.BRIDGE_UP, f"bridge {p.dev} passes the frame up to {p.label}'s IP stack ({why})"
    local = p.netns is not None and p.netns.owns_address(ev.key.dst)
    if p.role == ROLE_VETH_HOST:
        br = p.netns.link(p.link.master) if p.netns and p.link else None
        return Verb.VETH_CROSS, (f"veth pair: crossed into {p.label} on {p.dev}, "
                              f"a port of bridge {br.name if br else '?'}")
    if p.role in WORKLOAD_ROLES or p.role == ROLE_VETH:
        if local:
            return Verb.DELIVER, f"veth pair: crossed into {p.label}; delivered ({ev.key.dst} is local)"
        return Verb.VETH_CROSS, f"veth pair: crossed into {p.label} on {p.dev}"
    if local:
        return Verb.DELIVER, f"received on {p.dev}; delivered ({ev.key.dst} is local to {p.label})"
    return Verb.RECV, f"received on {p.dev}"


def _deliver_at_lookup(hops: list[Hop]) -> None:
    """Say 'delivered' where it is decided: at the local route lookup that follows the arrival.

    The receive hook fires before ip_rcv routes the packet (ip_route_input_noref,
    Linux 6.18), so the arrival only says where the packet is addressed; the
    lookup finding the address local is what delivers it. The verbs stay (the
    arrival is still the DELIVER hop every view judges a packet by).
    """
    for i, h in enumerate(hops):
        if h.verb != Verb.DELIVER or not h.events or h.events[0].ethertype == ETH_P_ARP:
            continue  # an ARP frame's lookup is the ARP code's question (arp_lookup_text)
        dst = h.events[0].key.dst
        for j in range(i + 1, len(hops)):
            x = hops[j]
            if x.verb in MOVING or x.netns != h.netns:
                break
            if x.verb == Verb.ROUTE_LOCAL and x.events and x.events[0].outer.dst == dst:
                came = (f"veth pair: crossed into {h.netns} on {h.dev}" if h.action.startswith("veth pair")
                        else f"received on {h.dev}")
                hops[i] = replace(h, action=f"{came}, addressed to {dst}{nat_tail(h)}")
                hops[j] = replace(x, action=f"route lookup in {x.netns}: {dst} is local, delivered here"
                                            + nat_tail(x))
                break
