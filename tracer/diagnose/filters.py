"""Reverse-path filtering (netfilter drops are in ``netfilter``)."""

from __future__ import annotations

from tracer.diagnose.context import Context, Diagnosis, in_netns, src_of
from tracer.topology.model import Netns


def _rp_mode(ns: Netns, dev: str) -> int:
    """Effective rp_filter on a device: the kernel uses max(conf.all, conf.DEV)."""
    vals = [ns.sysctl("net.ipv4.conf.all.rp_filter", "0"), ns.sysctl(f"net.ipv4.conf.{dev}.rp_filter", "0")]
    return max(int(v) if v.isdigit() else 0 for v in vals)


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
