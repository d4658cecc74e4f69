"""Name the NAT rule behind a hop's rewrite, from the rule counters measured around the trace.

The hop builder sees only that addresses or ports changed and in which
namespace. The counters say which rule did it: a MASQUERADE/SNAT/DNAT rule
in that namespace that counted packets during the trace (a NAT rule counts
a connection's first packet; later ones follow conntrack). On a reply, a
rewrite is conntrack reversing the request's NAT, not a rule of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tracer.correlate.journey import Hop
from tracer.netfilter.rules import Counters

_MARK = "NAT rewrote "


def _rule_text(nf: Counters, netns: str, kinds: set[str]) -> str:
    got = [g for g in nf.nat(netns) if g.entry.verdict.upper() in kinds]
    if not got:
        return (f" (no {'/'.join(sorted(kinds))} rule counted a packet in {netns} during the "
                "trace: an existing conntrack entry did it)") if nf.read_in(netns) else ""
    return "".join(f" by {g.entry.verdict.upper()} ({g.entry.where}: `{g.entry.spec}`)" for g in got)


def name_nat(hops: Sequence[Hop], nf: Counters | None, reply: bool) -> list[Hop]:
    """The hops with each NAT rewrite's rule (or conntrack's reversal) appended."""
    out = []
    for h in hops:
        at = h.action.find(_MARK)
        if at < 0:
            out.append(h)
            continue
        text = h.action[at:]
        netns = text.rsplit(" in ", 1)[-1]
        if reply:
            extra = " (conntrack reversing the request's NAT)"
        elif nf is None:
            extra = ""
        else:
            kinds = set()
            if "source " in text:
                kinds |= {"MASQUERADE", "SNAT"}
            if "destination " in text:
                kinds |= {"DNAT"}
            extra = _rule_text(nf, netns, kinds)
        out.append(dataclasses.replace(h, action=h.action + extra))
    return out
