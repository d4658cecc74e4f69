"""Rules for packets a filter killed on purpose: netfilter chains and reverse-path filtering."""

from __future__ import annotations

from tracer.correlate.vocab import Verb
from tracer.diagnose.context import Context, Diagnosis, in_netns, src_of
from tracer.topology.model import Netns


def _rp_mode(ns: Netns, dev: str) -> int:
    """Effective rp_filter on a device: the kernel uses max(conf.all, conf.DEV)."""
    vals = [ns.sysctl("net.ipv4.conf.all.rp_filter", "0"), ns.sysctl(f"net.ipv4.conf.{dev}.rp_filter", "0")]
    return max(int(v) if v.isdigit() else 0 for v in vals)


def rule_netfilter(ctx: Context) -> Diagnosis | None:
    """iptables/nftables dropped it; on a bridge port that means br_netfilter's FORWARD."""
    if not ctx.reason.startswith("NETFILTER"):
        return None
    ns = ctx.ns
    nf = ns.sysctl("net.bridge.bridge-nf-call-iptables") if ns else ""
    bridged = ctx.link is not None and ctx.link.master != 0 and not any(
        h.verb == Verb.BRIDGE_UP and h.netns == ctx.hop.netns for h in ctx.before)
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
    ns, src, dev = ctx.ns, src_of(ctx), ctx.hop.dev
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
