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
from tracer.diagnose.context import Context, Diagnosis, in_netns
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


def _measured(ctx: Context, ev: list[str], brn: str) -> Diagnosis | None:
    nf = ctx.nf
    netns = ctx.hop.netns
    if nf is None or not nf.read_in(netns):
        return None
    drops = nf.droppers(netns)
    ev.append(f"netfilter counters in {netns} read before and after the trace: "
              + (", ".join(f"{g.entry.where} +{g.packets}" for g in drops) or "no DROP/REJECT grew"))
    if not drops:
        return None
    rules = [g for g in drops if not g.entry.is_policy]
    g = max(rules or drops, key=lambda x: x.packets)
    e = g.entry
    if not e.is_policy:
        cause = (f"{e.where} dropped it ({g.packets} packets during the trace, {e.packets} in all): "
                 f"`{e.spec}`" + (f"; the frame was being bridged on {brn} (br_netfilter)" if brn else "")
                 + ". The rule was written on purpose by someone: change it only if it is not "
                 "meant for this traffic")
        return Diagnosis("netfilter-drop", cause, in_netns(ctx.ns, _list_cmd(g)), tuple(ev), ctx.hop)
    via = f"-i {brn} -o {brn} " if brn else ""
    cause = (f"the {e.chain} chain's policy {e.verdict} in table {e.table} dropped it "
             f"({g.packets} packets during the trace; no rule in the chain matched)"
             + (f"; the frame was being bridged on {brn} (br_netfilter)" if brn else ""))
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
    ev = [f"kfree_skb reason {ctx.reason} at {ctx.location or '?'} in {ctx.hop.netns}",
          f"net.bridge.bridge-nf-call-iptables = {nf or '?'} in {ctx.hop.netns}"]
    if brn:
        ev.append(f"{ctx.hop.dev} is a port of bridge {brn}: the frame was being bridged, not routed")
    d = _measured(ctx, ev, brn)
    if d is not None:
        return d
    if ctx.nf is None or not ctx.nf.read_in(ctx.hop.netns):
        ev.append(f"no netfilter counters were read in {ctx.hop.netns} (a recording, or the "
                  "tools failed): which rule or policy dropped is not measured")
    where = f"bridged on {brn} with br_netfilter" if brn else "routed"
    cause = (f"a netfilter rule or chain policy in {ctx.hop.netns} dropped the packet ({where}); "
             "which one was not measured: list the counters to find it")
    return Diagnosis("netfilter-drop", cause, in_netns(ns, "iptables-save -c"), tuple(ev), ctx.hop)
