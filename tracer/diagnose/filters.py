"""Reverse-path filtering (netfilter drops are in ``netfilter``)."""

from __future__ import annotations

from tracer.diagnose.context import NOTHING, Context, Diagnosis, in_netns, said, src_of
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
    ev = [said("chk.kfree.in", reason="IP_RPFILTER", location=ctx.location or "?", ns=ns.label),
          said("chk.rp-filter", dev=dev, all=ns.sysctl("net.ipv4.conf.all.rp_filter", "?"),
               own=ns.sysctl(f"net.ipv4.conf.{dev}.rp_filter", "?"), mode=str(mode),
               strict=said("chk.strict") if mode == 1 else NOTHING)]
    if back is not None:
        ev.append(said("chk.route-back", src=src, ns=ns.label, route=back.dst,
                       out=back_dev.name if back_dev else str(back.ifindex), dev=dev))
    cause = said("rp-filter", ns=ns.label, src=src, dev=dev,
                 back=back_dev.name if back_dev else said("another-device"))
    return Diagnosis("rp-filter", cause,
                     in_netns(ns, "sysctl -w net.ipv4.conf.all.rp_filter=2"), tuple(ev), ctx.hop)
