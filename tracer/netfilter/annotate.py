"""Name the NAT rule behind a hop's rewrite, from the rule counters measured around the trace.

The hop builder sees only that addresses or ports changed and in which
namespace. The counters say which rule did it: a MASQUERADE/SNAT/DNAT rule
in that namespace that counted packets during the trace (a NAT rule counts
a connection's first packet; later ones follow conntrack). On a reply, a
rewrite is conntrack reversing the request's NAT, not a rule of its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from tracer.correlate.journey import Hop
from tracer.netfilter.rules import Counters

_MARK = "NAT rewrote "
_SRC = re.compile(r"source (\S+) → ")
_DST = re.compile(r"destination (\S+) → (\S+?)(?:,| in )")


def _reversal(nf: Counters, netns: str, text: str) -> str:
    """A rewrite no rule of its kind counted, explained as conntrack undoing the other
    direction's NAT: a source rewritten *from* a DNAT rule's target is the answer
    to a DNAT'd request (``trace`` cannot tell a TCP reply from a request, ping's
    echo pairing can); a destination rewrite where a MASQUERADE/SNAT rule exists is
    the answer to a masqueraded one."""
    entries = nf.after.get(netns, ())
    if (m := _SRC.search(text)) is not None:
        for e in entries:
            if e.verdict.upper() == "DNAT" and m.group(1) in e.spec.split():
                return f" (conntrack undoing the DNAT of its connection: {e.where}: `{e.spec}`)"
    if (m := _DST.search(text)) is not None:
        for e in entries:  # a later packet of a DNAT'd connection: the rule counted its first
            if e.verdict.upper() == "DNAT" and m.group(2) in e.spec.split():
                return f" (conntrack applying the DNAT of its connection: {e.where}: `{e.spec}`)"
        for e in entries:
            if e.verdict.upper() in {"MASQUERADE", "SNAT"}:
                return (f" (conntrack undoing the {e.verdict.upper()} of its connection: "
                        f"{e.where}: `{e.spec}`)")
    return ""


def _rule_text(nf: Counters, netns: str, kinds: set[str], text: str = "") -> str:
    got = [g for g in nf.nat(netns) if g.entry.verdict.upper() in kinds]
    if not got:
        if not nf.read_in(netns):
            return ""
        return _reversal(nf, netns, text) or (
            f" (no {'/'.join(sorted(kinds))} rule counted a packet in {netns} during the "
            "trace: an existing conntrack entry did it)")
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
            extra = _rule_text(nf, netns, kinds, text)
        out.append(dataclasses.replace(h, action=h.action + extra))
    return out


def needs_counters(hops: Sequence[Hop]) -> bool:
    """Whether the rule counters say more about these hops: a NAT rewrite or a netfilter drop."""
    return any(_MARK in h.action or (h.reason or "").startswith("NETFILTER") for h in hops)
