"""NAT as the hop list shows it: where a rewrite happened and what it changed.

The correlator follows one packet through NAT by its skb; this module only
compares each hop's addresses and ports with the last and words the change
(which rule did it is named at render time, from counters).
"""

from __future__ import annotations

from dataclasses import replace

from tracer.correlate.journey import Hop
from tracer.correlate.place import SINGLE_HOOKS
from tracer.correlate.vocab import MOVING, Verb
from tracer.model import IPPROTO_TCP, IPPROTO_UDP, Event, Hook, L4Key, ip4


def dropped_seen(h: Hop, e: Event) -> bool:
    """The drop's own view of the packet: kfree_skb reads its headers as they were when it
    died, so a packet DNAT rewrote and a rule then dropped shows the rewrite there."""
    return h.verb == Verb.DROP and e.hook == Hook.KFREE_SKB and e.key.present


def undeliver_transit(hops: list[Hop]) -> None:
    """A packet that is 'local' on arrival but travels on was translated (NAT), not delivered."""
    for i, h in enumerate(hops):
        if h.verb != Verb.DELIVER or not h.events:
            continue
        dst = h.events[0].key.daddr
        rewritten = any(e.key.daddr != dst for x in hops[i + 1:] for e in x.events
                        if e.hook not in SINGLE_HOOKS or dropped_seen(x, e))
        if rewritten and any(x.verb in MOVING or x.verb == Verb.DROP for x in hops[i + 1:]):
            hops[i] = replace(h, verb=Verb.RECV,
                              action=f"received on {h.dev}, addressed to {h.netns}; conntrack "
                                     "translates it and it travels on")


def nat_tail(h: Hop) -> str:
    """What mark_nat appended to a hop's action (kept when the action is reworded)."""
    at = h.action.find("; NAT rewrote")
    return h.action[at:] if at >= 0 else ""


def _endpoint(addr: int, port: int, ported: bool) -> str:
    return f"{ip4(addr)}:{port}" if ported else ip4(addr)


def _nat_text(last: L4Key, cur: L4Key, where: str) -> str:
    """'NAT rewrote source A:p → B:q … in NETNS': addresses with ports (TCP/UDP).

    Which rule did it (MASQUERADE, SNAT or DNAT, and its chain), or whether
    conntrack was reversing a request's NAT on a reply, is named at render
    time from the measured rule counters (``tracer.netfilter.annotate``).
    """
    ported = cur.proto in (IPPROTO_TCP, IPPROTO_UDP)
    what = []
    if cur.saddr != last.saddr or (ported and cur.sport != last.sport):
        what.append(f"source {_endpoint(last.saddr, last.sport, ported)} → "
                    f"{_endpoint(cur.saddr, cur.sport, ported)}")
    if cur.daddr != last.daddr or (ported and cur.dport != last.dport):
        what.append(f"destination {_endpoint(last.daddr, last.dport, ported)} → "
                    f"{_endpoint(cur.daddr, cur.dport, ported)}")
    return f"NAT rewrote {', '.join(what)} in {where}" if what else ""


def mark_nat(hops: list[Hop]) -> None:
    """Say where NAT rewrote the addresses and ports: compare each hop's key with the last."""
    last: L4Key | None = None
    where = ""
    for i, h in enumerate(hops):
        evs = [e for e in h.events if e.hook not in SINGLE_HOOKS or dropped_seen(h, e)]
        if not evs:
            continue
        k = evs[0].key
        # the old key was last seen in ``where``: the rewrite happened there (the receive
        # hook fires before PREROUTING, and POSTROUTING runs before the packet leaves)
        text = _nat_text(last, k, where) if last else ""
        if text:
            hops[i] = replace(h, action=h.action + f"; {text}")
        last, where = k, h.netns
