"""The netfilter drop, named by table, chain and rule from the counters that grew.

NETFILTER_DROP only says some rule or policy dropped. The rule that did is
measured: the counters read before and after the trace (``Context.nf``).
The cause names what was counted; never a guess such as "docker's default".
A fix never overrides a rule someone wrote: for a rule it says what the rule
is and where, and how to list it; only a chain *policy* that counted the drop
gets an ACCEPT for this traffic inserted ahead of it.
"""

from __future__ import annotations

from tracer.correlate.vocab import Verb
from tracer.diagnose.context import NOTHING, Context, Diagnosis, Said, in_netns, said
from tracer.netfilter.rules import Growth


def _bridge_of(ctx: Context) -> str:
    """The bridge the dropped frame was crossing ("" when it was routed)."""
    if ctx.link is None or ctx.link.master == 0 or ctx.ns is None:
        return ""
    if any(h.verb == Verb.BRIDGE_UP and h.netns == ctx.hop.netns for h in ctx.before):
        return ""
    br = ctx.ns.link(ctx.link.master)
    return br.name if br else ""


def _list_cmd(g: Growth) -> str:
    e = g.entry
    if e.family == "nft":
        fam, _, table = e.table.partition(" ")
        return f"nft -a list chain {fam} {table} {e.chain}"
    return f"iptables -t {e.table} -L {e.chain} -v -n --line-numbers"


def _listed(items: list[Said]) -> Said:
    """``a, b, c`` in any language: each item a Said of its own."""
    return items[0] if len(items) == 1 else said("chk.pair", first=items[0], rest=_listed(items[1:]))


def _measured(ctx: Context, ev: list[Said], brn: str) -> Diagnosis | None:
    nf = ctx.nf
    netns = ctx.hop.netns
    if nf is None or not nf.read_in(netns):
        return None
    drops = nf.droppers(netns)
    grew = [said("chk.nf-grew", family=e.family, table=e.table, chain=e.chain, n=str(g.packets),
                 at=said("chk.nf-policy") if e.is_policy else said("chk.nf-rule", number=str(e.number)))
            for g in drops for e in (g.entry,)]
    ev.append(said("chk.nf-counters", netns=netns, grew=_listed(grew) if grew else said("chk.nf-none")))
    if not drops:
        return None
    rules = [g for g in drops if not g.entry.is_policy]
    g = max(rules or drops, key=lambda x: x.packets)
    e = g.entry
    bridged = said("nf.bridged", bridge=brn) if brn else NOTHING
    if not e.is_policy:
        cause = said("nf.rule", where=e.where, family=e.family, table=e.table, chain=e.chain,
                     number=str(e.number), n=str(g.packets), total=str(e.packets), spec=e.spec,
                     bridged=bridged)
        return Diagnosis("netfilter-drop", cause, in_netns(ctx.ns, _list_cmd(g)), tuple(ev), ctx.hop)
    via = f"-i {brn} -o {brn} " if brn else ""
    cause = said("nf.policy", chain=e.chain, verdict=e.verdict, table=e.table, n=str(g.packets),
                 bridged=bridged)
    fix = in_netns(ctx.ns, f"iptables -t {e.table} -I {e.chain} {via}-j ACCEPT") \
        if e.family == "iptables" else in_netns(ctx.ns, _list_cmd(g))
    return Diagnosis("netfilter-drop", cause, fix, tuple(ev), ctx.hop)


def rule_netfilter(ctx: Context) -> Diagnosis | None:
    """iptables/nftables dropped it: the rule whose counters grew, or say it was not measured."""
    if not ctx.reason.startswith("NETFILTER"):
        return None
    ns = ctx.ns
    nf = ns.sysctl("net.bridge.bridge-nf-call-iptables") if ns else ""
    brn = _bridge_of(ctx)
    ev = [said("chk.kfree.in", reason=ctx.reason, location=ctx.location or "?", ns=ctx.hop.netns),
          said("chk.sysctl", key="net.bridge.bridge-nf-call-iptables", value=nf or "?", ns=ctx.hop.netns)]
    if brn:
        ev.append(said("chk.bridged", dev=ctx.hop.dev, bridge=brn))
    d = _measured(ctx, ev, brn)
    if d is not None:
        return d
    if ctx.nf is None or not ctx.nf.read_in(ctx.hop.netns):
        ev.append(said("chk.nf-unread", netns=ctx.hop.netns))
    where = said("nf.bridged-on", bridge=brn) if brn else said("nf.routed")
    cause = said("nf.unmeasured", netns=ctx.hop.netns, where=where)
    return Diagnosis("netfilter-drop", cause, in_netns(ns, "iptables-save -c"), tuple(ev), ctx.hop)
