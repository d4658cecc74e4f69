"""No drop seen: how far the request got, and whether the way back exists."""

from __future__ import annotations

import ipaddress

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import DECISIONS, Verb
from tracer.diagnose.context import NOTHING, Diagnosis, Said, in_netns, netns_of, said, subnet_of
from tracer.model import Hook
from tracer.topology.model import Topology


def _last_reached(hops: tuple[Hop, ...]) -> Hop | None:
    moving = [h for h in hops if h.verb not in DECISIONS]
    return moving[-1] if moving else (hops[-1] if hops else None)


def unanswered(p: Packet, topo: Topology) -> Diagnosis:
    """No drop seen: say how far the request got, and check the way back."""
    last = _last_reached(p.request)
    if last is None:
        return Diagnosis("no-trace", said("no-trace"))
    first = next((e for h in p.request for e in h.events
                  if e.hook != Hook.FIB_TABLE_LOOKUP and e.key.present), None)
    arrived = next((e for e in reversed(last.events) if e.key.present), None)
    if first is None or arrived is None:
        return Diagnosis("unanswered", said("unanswered", netns=last.netns, dev=last.dev), "", (), last)
    src, seen_src = first.key.src, arrived.key.src
    ns = netns_of(topo, last)
    facts = [_last_seen(p.request, last),
             said("chk.source-there", src=seen_src,
                  nat=said("chk.not-translated") if src == seen_src else NOTHING)]
    back = ns.route_for(seen_src) if ns and seen_src else None
    if last.verb == Verb.DELIVER and ns is not None and back is None:
        facts.append(said("no-route", ns=ns.label, dst=seen_src))
        nat = _masquerade_fix(topo, p, src) if src == seen_src else ""
        cause = said("no-return-route", ns=ns.label, src=seen_src, nat=said("no-nat") if nat else NOTHING)
        return Diagnosis("no-return-route", cause, nat, tuple(facts), last)
    return Diagnosis("unanswered", said("unanswered", netns=last.netns, dev=last.dev), "", tuple(facts),
                     last)


def _masquerade_fix(topo: Topology, p: Packet, src: str) -> str:
    """The MASQUERADE rule for the namespace that routed the source subnet out."""
    src_ns = topo.netns_owning(src)
    subnet = subnet_of(src_ns, src) if src_ns else f"{src}/32"
    for h in p.request:
        ns = netns_of(topo, h)
        if h.verb != Verb.BRIDGE_UP or ns is None or ns is src_ns:
            continue
        br = ns.link_by_name(h.dev)
        if br is not None and any(a.cidr and ipaddress.ip_address(src) in
                                  ipaddress.ip_network(a.cidr, strict=False) for a in br.addresses):
            return in_netns(ns, f"iptables -t nat -A POSTROUTING -s {subnet} ! -o {br.name} "
                                "-j MASQUERADE")
    return ""


def _last_seen(hops: tuple[Hop, ...], last: Hop) -> Said:
    """Where the request was last seen, naming the listed hops after the last move
    (a route lookup is listed but moves nothing: "last seen at hop 10" read
    wrong above a hop 11)."""
    after = [h for h in hops if h.index > last.index]
    trail = (said("chk.trail-ends", index=str(after[-1].index), verb=after[-1].verb, netns=after[-1].netns)
             if after else NOTHING)
    return said("chk.last-seen", index=str(last.index), netns=last.netns, dev=last.dev, verb=last.verb,
                after=trail)
