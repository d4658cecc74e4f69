"""Why a probe died, and the command that fixes it: the drop cross-checked with the config.

The kernel tells *where* (the last hop, kfree_skb's location) and a coarse
*why* (the drop reason, by name, decoded from the running kernel's BTF — no
number table here). The *cause* a person can act on is in the configuration:
a sysctl, a missing route, a disabled bridge port, an FDB entry, an MTU. So
each rule looks at the drop and then checks the discovered
:class:`Topology` snapshot for the setting that explains it, and says which
facts it used (``evidence``). Pure: no bcc, pyroute2 or textual, so it runs
the same on a recording as live.

Rules live by layer: ``netfilter`` (the rule that dropped, by counters),
``filters`` (rp_filter), ``link`` (MTU,
VXLAN), ``bridge`` (ports), ``routing`` (forwarding, routes); ``unanswered``
explains a probe with no drop seen.
"""

from __future__ import annotations

from tracer.correlate.journey import Hop
from tracer.correlate.pairing import Packet
from tracer.correlate.vocab import Status, Verb
from tracer.diagnose.bridge import rule_bridge_port
from tracer.diagnose.context import (
    Context,
    Diagnosis,
    Rule,
    in_netns,
    ip_length,
    netns_of,
    unexplained,
)
from tracer.diagnose.down import rule_link_down
from tracer.diagnose.filters import rule_rp_filter
from tracer.diagnose.link import rule_mtu, rule_vxlan
from tracer.diagnose.netfilter import rule_netfilter
from tracer.diagnose.routing import rule_ipv6_disabled, rule_routing
from tracer.diagnose.unanswered import unanswered
from tracer.netfilter.rules import Counters
from tracer.topology.model import Topology

RULES: tuple[Rule, ...] = (rule_netfilter, rule_rp_filter, rule_mtu, rule_vxlan,
                           rule_bridge_port, rule_link_down, rule_routing, rule_ipv6_disabled)


def find_drop(p: Packet) -> tuple[Hop, tuple[Hop, ...]] | None:
    """The hop where the probe died, with its journey.

    A drop right after a 'deliver' hop is shown as 'consumed' by the hop
    builder (the packet had reached its destination's netns); when the probe
    got no answer, that free *is* the drop — rp_filter kills a packet there.
    """
    for hops in (p.request, p.reply):
        for h in hops:
            if h.verb == Verb.DROP:
                return h, hops
    if p.status == Status.DELIVERED or p.reply:
        return None
    for h in p.request:
        if h.verb == Verb.CONSUMED and h.reason:
            return h, p.request
    return None


def diagnose(p: Packet, topo: Topology, nf: Counters | None = None) -> Diagnosis | None:
    """A diagnosis for a probe that was not delivered; None for a delivered one."""
    if p.status == Status.DELIVERED or any(h.verb == Verb.DELIVER for h in p.reply):
        return None  # a reply that reached the sender (a replay has no RTT to say so)
    found = find_drop(p)
    if found is None:
        return unanswered(p, topo)
    hop, hops = found
    ns = netns_of(topo, hop)
    link = ns.link(hop.ifindex) if ns and hop.ifindex else (ns.link_by_name(hop.dev) if ns else None)
    ctx = Context(topo, p, hop, hops, ns, link, nf)
    for rule in RULES:
        d = rule(ctx)
        if d is not None:
            return d
    return unexplained(ctx)


__all__ = ["Context", "Diagnosis", "diagnose", "find_drop", "in_netns", "ip_length"]
